-- The engine's own tables. Runs with search_path set to the configured schema (default taskhub).
-- pg-boss keeps its job tables in a schema of its own.

-- One row per orchestration instance: its current execution and state.
CREATE TABLE instances (
  instance_id         text        PRIMARY KEY,
  name                text        NOT NULL,
  execution_id        uuid        NOT NULL,
  runtime_status      text        NOT NULL CHECK (runtime_status IN
                        ('Pending', 'Running', 'ContinuedAsNew', 'Suspended',
                         'Completed', 'Failed', 'Terminated', 'Canceled')),
  input               text,          -- JSON text as the caller gave it (NULL: no input)
  output              text,          -- JSON text: the result, the failure text, or the termination reason
  custom_status       text,          -- JSON text set by setCustomStatus
  failure             jsonb,         -- {type, message, details} of a Failed instance
  singleton_key       text,          -- set for single-instance orchestrations: name, or name + key
  parent_instance_id  text,
  parent_execution_id uuid,
  parent_task_id      integer,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  completed_at        timestamptz,
  history_length      integer     NOT NULL DEFAULT 0,  -- next history sequence number of this execution
  wake_at             timestamptz,   -- when a turn is due (NULL: nothing to do)
  lease_owner         text,          -- the worker running (or that crashed running) a turn
  lease_until         timestamptz,
  turn_attempts       integer     NOT NULL DEFAULT 0,  -- claims since the last committed turn (poison detection)
  CHECK (char_length(instance_id) BETWEEN 1 AND 256)
);

-- THE single-instance guarantee. At most one active row per singleton key: a second INSERT (or an
-- UPDATE that makes a row active) fails with SQLSTATE 23505, decided atomically by the index, with
-- no read-then-write window. "Active" is ACTIVE_STATUSES in src/orchestrator/core/statuses.ts
-- (test/integration/statuses.test.ts compares the two).
CREATE UNIQUE INDEX instances_one_active_per_singleton_key
  ON instances (singleton_key)
  WHERE singleton_key IS NOT NULL
    AND runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended');

-- Instances with a turn due, for the dispatcher.
CREATE INDEX instances_due ON instances (wake_at) WHERE wake_at IS NOT NULL;
-- Keyset paging of listings by creation time, and filtered purges.
CREATE INDEX instances_created ON instances (created_at, instance_id);
CREATE INDEX instances_status_created ON instances (runtime_status, created_at);
CREATE INDEX instances_parent ON instances (parent_instance_id) WHERE parent_instance_id IS NOT NULL;

-- Append-only history of the current execution. The primary key is the fence: a second worker
-- replaying the same turn collides on it and its whole transaction is discarded.
CREATE TABLE history (
  instance_id  text        NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
  execution_id uuid        NOT NULL,
  seq          integer     NOT NULL CHECK (seq >= 0),
  event_type   text        NOT NULL,
  event_time   timestamptz NOT NULL,
  event        jsonb       NOT NULL,  -- the event's own fields (names, task ids, times, failures)
  payload      text,                  -- the user's JSON (input or result) as text, untouched
  PRIMARY KEY (instance_id, execution_id, seq)
);

-- Messages to an instance: activity results, timers, raised events, sub-orchestration results.
-- message_id makes redelivery harmless: a duplicate insert does nothing.
CREATE TABLE inbox (
  instance_id  text        NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
  message_id   text        NOT NULL,
  arrival      bigint      GENERATED ALWAYS AS IDENTITY,  -- delivery order
  execution_id uuid,                 -- NULL: for whichever execution is current (raised events)
  event_type   text        NOT NULL,
  deliver_at   timestamptz NOT NULL DEFAULT now(),  -- a durable timer is a message due later
  event        jsonb       NOT NULL,
  payload      text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (instance_id, message_id)
);
CREATE INDEX inbox_delivery ON inbox (instance_id, deliver_at, arrival);

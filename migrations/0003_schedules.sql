-- Schedules of registered orchestrations (option `schedule: { cron, timezone }`). One row per
-- orchestration; the row lock and the advance of next_run_at in the same transaction as the start
-- make each tick fire exactly once however many workers run.
CREATE TABLE schedules (
  name            text        PRIMARY KEY,
  cron            text        NOT NULL,
  timezone        text        NOT NULL DEFAULT 'UTC',
  input           text,                   -- JSON text each run starts with
  next_run_at     timestamptz NOT NULL,
  last_tick_at    timestamptz,
  last_outcome    text CHECK (last_outcome IN ('started', 'skipped', 'failed')),
  last_instance_id text,
  last_error      text,
  started_count   bigint      NOT NULL DEFAULT 0,
  skipped_count   bigint      NOT NULL DEFAULT 0,  -- ticks that found the single-instance slot taken
  failed_count    bigint      NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due ON schedules (next_run_at);

-- What each tick did; the key proves one outcome per tick. Old rows are pruned by the scheduler.
CREATE TABLE schedule_ticks (
  name        text        NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
  tick_at     timestamptz NOT NULL,
  outcome     text        NOT NULL CHECK (outcome IN ('started', 'skipped', 'failed')),
  instance_id text,                      -- the run started, or the active run that made it skip
  detail      text,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, tick_at)
);

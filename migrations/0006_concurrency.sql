-- Concurrency control of starts (issue 14): at most `limit` active instances per key, a FIFO queue
-- per key, latest-wins replacement of the waiting start, and debounce. Every decision is made here,
-- by a unique index or under the key's transaction lock, never by a read before a write.

-- The slot an active instance holds in its key (0 … limit-1). DEFAULT 0 keeps the single-instance
-- case exactly as it was: a singleton is `limit: 1`, every row with a key holds slot 0 unless a
-- start says otherwise (a queued or debouncing row has none: NULL).
ALTER TABLE instances
  ADD COLUMN concurrency_slot integer DEFAULT 0 CHECK (concurrency_slot >= 0),
  -- A waiting (queued) instance's place in line; NULL once it holds a slot or was never queued.
  ADD COLUMN queued_seq bigint,
  -- A debounced start not yet started: it starts at this time unless a newer start moves it.
  ADD COLUMN debounce_at timestamptz;

CREATE SEQUENCE instances_queue_seq;

-- THE limit. At most one active row per (key, slot), so at most `limit` active rows per key when
-- starts only take slots 0 … limit-1. With limit 1 this is the single-instance index of 0001, under
-- its old name (rewind and the statuses test keep reading it by that name).
CREATE UNIQUE INDEX instances_one_active_per_slot
  ON instances (singleton_key, concurrency_slot)
  WHERE singleton_key IS NOT NULL AND concurrency_slot IS NOT NULL
    AND runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended');
DROP INDEX instances_one_active_per_singleton_key;
ALTER INDEX instances_one_active_per_slot RENAME TO instances_one_active_per_singleton_key;

-- The queue of each key, in arrival order (a Suspended waiter keeps its place and is skipped).
CREATE INDEX instances_waiting ON instances (singleton_key, queued_seq)
  WHERE queued_seq IS NOT NULL AND runtime_status IN ('Pending', 'Suspended');

-- At most one debouncing start per key: a newer start of the key updates it (ON CONFLICT on this index).
CREATE UNIQUE INDEX instances_one_debouncing_per_key ON instances (singleton_key)
  WHERE debounce_at IS NOT NULL AND runtime_status IN ('Pending', 'Suspended');
CREATE INDEX instances_debounce_due ON instances (debounce_at)
  WHERE debounce_at IS NOT NULL AND runtime_status = 'Pending';

-- The key's lock: a queued start (take a free slot or join the queue) and a slot's release (hand
-- it to the oldest waiter) take it, so a start never joins the queue just after the last holder
-- left without seeing it (a lost wake-up). Transaction-scoped; the two-key form keeps it apart from
-- pg-boss's single-bigint advisory locks.
CREATE FUNCTION concurrency_lock(key text) RETURNS void LANGUAGE sql AS
  $$ SELECT pg_advisory_xact_lock(1952541803, hashtext(key)) $$;

-- The lowest free slot of a key under a limit (NULL: none). With take_lock, the key's lock first:
-- VOLATILE, so at READ COMMITTED its query sees every commit made before the lock was granted
-- (a statement's own snapshot is older than that). START_LIMITED calls it, so that a queued start
-- is one statement: lock, pick, insert, and the lock released with its commit.
CREATE FUNCTION concurrency_free_slot(key text, lim integer, take_lock boolean) RETURNS integer
  LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
BEGIN
  IF take_lock THEN PERFORM concurrency_lock(key); END IF;
  RETURN (SELECT s FROM generate_series(0, lim - 1) AS s
          WHERE NOT EXISTS (SELECT 1 FROM instances x WHERE x.singleton_key = key AND x.concurrency_slot = s
                            AND x.runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended'))
          ORDER BY s LIMIT 1);
END $$;

-- Before a slot holder leaves the active set: the key's lock, taken before the row is written (a
-- queued start holding the lock must never wait on this row's new version: a deadlock).
CREATE FUNCTION concurrency_before_release() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM concurrency_lock(OLD.singleton_key);
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;

-- After it left: the freed slot goes to the oldest waiter of the key, in the same transaction, on
-- every path (completion, failure, terminate, purge, deadline, quarantine). A crash loses nothing:
-- the release and the hand-off commit together or not at all.
CREATE FUNCTION concurrency_hand_off() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE next_id text;
BEGIN
  SELECT instance_id INTO next_id FROM instances
    WHERE singleton_key = OLD.singleton_key AND queued_seq IS NOT NULL AND runtime_status = 'Pending'
    ORDER BY queued_seq LIMIT 1 FOR UPDATE;
  IF next_id IS NOT NULL THEN
    UPDATE instances SET concurrency_slot = OLD.concurrency_slot, queued_seq = NULL, wake_at = now(), updated_at = now()
      WHERE instance_id = next_id;
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_wake', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER instances_release_lock BEFORE UPDATE ON instances FOR EACH ROW
  WHEN (OLD.singleton_key IS NOT NULL AND OLD.concurrency_slot IS NOT NULL
    AND OLD.runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')
    AND NEW.runtime_status NOT IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended'))
  EXECUTE FUNCTION concurrency_before_release();
CREATE TRIGGER instances_release_hand_off AFTER UPDATE ON instances FOR EACH ROW
  WHEN (OLD.singleton_key IS NOT NULL AND OLD.concurrency_slot IS NOT NULL
    AND OLD.runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')
    AND NEW.runtime_status NOT IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended'))
  EXECUTE FUNCTION concurrency_hand_off();
CREATE TRIGGER instances_delete_lock BEFORE DELETE ON instances FOR EACH ROW
  WHEN (OLD.singleton_key IS NOT NULL AND OLD.concurrency_slot IS NOT NULL
    AND OLD.runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended'))
  EXECUTE FUNCTION concurrency_before_release();
CREATE TRIGGER instances_delete_hand_off AFTER DELETE ON instances FOR EACH ROW
  WHEN (OLD.singleton_key IS NOT NULL AND OLD.concurrency_slot IS NOT NULL
    AND OLD.runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended'))
  EXECUTE FUNCTION concurrency_hand_off();

-- A waiting or debouncing instance has no turn due, whoever writes its row: an event raised to it,
-- a resume, a redelivery. Only taking a slot (queued_seq → NULL) or its debounce time passing
-- (debounce_at → NULL) makes it runnable.
CREATE FUNCTION concurrency_hold_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.wake_at := NULL;
  RETURN NEW;
END $$;
CREATE TRIGGER instances_hold_back BEFORE UPDATE ON instances FOR EACH ROW
  WHEN (NEW.wake_at IS NOT NULL AND (NEW.queued_seq IS NOT NULL OR NEW.debounce_at IS NOT NULL)
    AND NEW.runtime_status IN ('Pending', 'Suspended'))
  EXECUTE FUNCTION concurrency_hold_back();

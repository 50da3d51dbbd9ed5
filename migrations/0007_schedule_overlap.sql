-- Schedule overlap policies and catch-up (issue 14). A schedule says what a tick does when the run
-- it started earlier is still active (`overlap`, Temporal's ScheduleOverlapPolicy) and how late a
-- tick missed during downtime may still run (`catchup_window_seconds`). Every tick keeps exactly
-- one row in schedule_ticks (its primary key); a buffered tick's row also records, once, when its
-- run started.
ALTER TABLE schedules
  ADD COLUMN overlap text NOT NULL DEFAULT 'skip'
    CHECK (overlap IN ('skip', 'bufferOne', 'bufferAll', 'terminateOther', 'allowAll')),
  ADD COLUMN catchup_window_seconds integer NOT NULL DEFAULT 31536000 CHECK (catchup_window_seconds >= 1),
  ADD COLUMN buffered_count bigint NOT NULL DEFAULT 0,  -- ticks that waited for the running instance
  ADD COLUMN replaced_count bigint NOT NULL DEFAULT 0;  -- ticks that terminated the running instance and started

ALTER TABLE schedules DROP CONSTRAINT schedules_last_outcome_check;
ALTER TABLE schedules ADD CONSTRAINT schedules_last_outcome_check
  CHECK (last_outcome IN ('started', 'buffered', 'skipped', 'replaced', 'failed'));

ALTER TABLE schedule_ticks DROP CONSTRAINT schedule_ticks_outcome_check;
ALTER TABLE schedule_ticks ADD CONSTRAINT schedule_ticks_outcome_check
  CHECK (outcome IN ('started', 'buffered', 'skipped', 'replaced', 'failed'));
-- A buffered tick: when its run started (set once, by the statement that starts it; a start that
-- could not even be planned sets it with instance_id NULL and the reason in detail).
ALTER TABLE schedule_ticks ADD COLUMN started_at timestamptz;
ALTER TABLE schedule_ticks ADD CONSTRAINT schedule_ticks_started_only_buffered
  CHECK (started_at IS NULL OR outcome = 'buffered');

-- The buffer: ticks still waiting, oldest first per schedule.
CREATE INDEX schedule_ticks_waiting ON schedule_ticks (name, tick_at) WHERE outcome = 'buffered' AND started_at IS NULL;

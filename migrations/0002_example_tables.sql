-- Tables of the shipped example orchestrations (src/examples). Harmless when examples are off.

-- DataIngest loads here; the primary key makes a load idempotent (a second run upserts, adds nothing).
CREATE TABLE ingest_items (
  source_id   text        PRIMARY KEY,
  payload     jsonb       NOT NULL,
  loaded_by   text        NOT NULL,   -- the instance that last loaded it
  loaded_at   timestamptz NOT NULL DEFAULT now()
);

-- Durable counters for the demo activities that fail a given number of times (RewindDemo, RetryDemo).
CREATE TABLE example_counters (
  key  text    PRIMARY KEY,
  n    integer NOT NULL
);

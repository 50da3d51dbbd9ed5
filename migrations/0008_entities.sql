-- Durable entities (issue 15). An entity is a row of `instances` whose id is `@{name}@{key}`
-- (orchestration ids may not start with '@'): it is claimed, leased, quarantined and fed from the
-- inbox exactly as an orchestration is, so a turn of an entity has the same discipline (lock the
-- row, read the due operations, apply them in arrival order, write state + results + outgoing
-- messages in one transaction). Its status stays 'Running' while the row exists.
--
-- entity_state: the JSON text of the state; NULL when the entity has no state (never set, or
-- deleted by destructOnExit / the built-in delete operation): such an entity does not "exist" for
-- reads and listings, as in Durable Functions.
-- last_operation_at: when the last turn that ran operations committed (listings filter on it).
ALTER TABLE instances ADD COLUMN entity_state text, ADD COLUMN last_operation_at timestamptz;

-- Entity listings: by name, then key (keyset paging), only entities that have state.
CREATE INDEX instances_entities ON instances (name, instance_id)
  WHERE starts_with(instance_id, '@') AND entity_state IS NOT NULL;

-- Operations sent to entities from turns are written without locking the entity's row (so that an
-- orchestration calling an entity and the entity answering it can never deadlock); their wake-up
-- follows the sender's commit. The dispatcher's sweep looks here for operations whose wake-up was
-- lost to a crash between the two.
CREATE INDEX inbox_entities ON inbox (instance_id) WHERE starts_with(instance_id, '@');

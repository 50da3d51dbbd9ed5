/**
 * Entity rows (instances whose id is `@name@key`, migrations/0008): sending operations, the end of
 * an entity turn, reads and listings. Operations are written without locking the entity's row: an
 * orchestration turn that calls an entity holds its own row, and the entity's turn that answers it
 * locks the orchestration's row to deliver the answer; if sends locked too, the two could deadlock.
 * So a send inserts the row if it is new (ON CONFLICT DO NOTHING takes no row lock) and the inbox
 * message (the foreign key's KEY SHARE lock does not conflict with a turn's FOR NO KEY UPDATE), and
 * the wake-up (`wakeEntities`) follows the sender's commit, in a statement of its own.
 */
import type { Queryable } from '../../db/pool.ts';
import type { Message } from '../core/decide.ts';
import { eventColumns } from './rows.ts';

/**
 * Creates the entity rows that do not exist yet (Running, nothing due) and inserts the messages; a
 * message id already in the inbox is a no-op. Rows are inserted in id order, so two senders
 * creating the same new entities wait for each other in one order and cannot deadlock.
 */
const SEND = `
  WITH incoming AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::text[])
      AS t(instance_id, name, message_id, event_type, event, payload)
  ), created AS (
    INSERT INTO instances (instance_id, name, execution_id, runtime_status)
    SELECT DISTINCT ON (instance_id) instance_id, name, gen_random_uuid(), 'Running' FROM incoming ORDER BY instance_id
    ON CONFLICT (instance_id) DO NOTHING
  )
  INSERT INTO inbox (instance_id, message_id, event_type, event, payload)
  SELECT instance_id, message_id, event_type, event, payload FROM incoming
  ON CONFLICT DO NOTHING`;

/** Sends operations to entities inside the caller's transaction (see the file comment); wake them after it commits. */
export async function sendToEntities(db: Queryable, messages: ReadonlyArray<Message & { entityName: string }>): Promise<void> {
  if (messages.length === 0) return;
  const cols = messages.map((m) => eventColumns(m.event));
  await db.query({
    name: 'taskhub.send-to-entities',
    text: SEND,
    values: [messages.map((m) => m.instanceId), messages.map((m) => m.entityName), messages.map((m) => m.messageId), cols.map((c) => c.type), cols.map((c) => c.event), cols.map((c) => c.payload)],
  });
}

/**
 * Wakes entities that were sent operations (after the sender committed). It waits for an entity's
 * turn in progress, so it runs outside any transaction that holds another row; a turn that missed
 * the new messages then runs again.
 */
const WAKE = `
  WITH woken AS (
    UPDATE instances SET wake_at = LEAST(COALESCE(wake_at, 'infinity'), now())
    WHERE instance_id = ANY($1::text[]) AND (wake_at IS NULL OR wake_at > now())
    RETURNING 1
  )
  SELECT pg_notify($2, '') FROM (SELECT 1 FROM woken LIMIT 1) w`;

/** `channel`: the dispatchers' wake-up channel (store/turns.ts wakeChannel). */
export async function wakeEntities(db: Queryable, instanceIds: readonly string[], channel: string): Promise<void> {
  if (instanceIds.length > 0) await db.query(WAKE, [[...new Set(instanceIds)].sort(), channel]);
}

/**
 * The backstop of `wakeEntities`: entities with operations waiting and nothing due (their sender
 * crashed between its commit and the wake-up). Read through inbox_entities; run once per poll interval.
 */
const SWEEP_UNWOKEN = `
  UPDATE instances i SET wake_at = now()
  WHERE i.instance_id IN (SELECT DISTINCT instance_id FROM inbox WHERE starts_with(instance_id, '@'))
    AND i.wake_at IS NULL AND i.lease_owner IS NULL`;

export async function sweepUnwokenEntities(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(SWEEP_UNWOKEN);
  return rowCount ?? 0;
}

/**
 * The end of an entity turn in one statement: consume the operations applied, write the state
 * (NULL: deleted) and the last operation's time, clear the lease, and set the next wake-up from what
 * is left in the inbox (the consumed ids excluded by a hashed NOT IN, as in COMMIT_TURN, store/turns.ts).
 */
const COMMIT_ENTITY_TURN = `
  WITH consumed AS (
    DELETE FROM inbox WHERE instance_id = $1 AND message_id = ANY($2::text[])
  )
  UPDATE instances SET entity_state = $3, last_operation_at = CASE WHEN $4::boolean THEN now() ELSE last_operation_at END,
    updated_at = now(), lease_owner = NULL, lease_until = NULL, turn_attempts = 0,
    wake_at = (SELECT min(deliver_at) FROM inbox WHERE inbox.instance_id = $1 AND inbox.message_id NOT IN (SELECT unnest($2::text[])))
  WHERE instance_id = $1`;

export interface EntityTurnCommit {
  instanceId: string;
  consumed: readonly string[];
  /** JSON text of the state after the turn; null: the entity has no state. */
  state: string | null;
  /** False when no operation ran (the last operation time stays). */
  ranOperations: boolean;
}

export async function commitEntityTurn(db: Queryable, t: EntityTurnCommit): Promise<void> {
  await db.query({ name: 'taskhub.commit-entity-turn', text: COMMIT_ENTITY_TURN, values: [t.instanceId, t.consumed, t.state, t.ranOperations] });
}

/** An entity as reads and listings show it. */
export interface EntityRow {
  instanceId: string;
  name: string;
  /** JSON text; null when the entity has no state. */
  state: string | null;
  lastOperationAt: Date | null;
  /** Operations waiting in its inbox. */
  pendingOperations: number;
}

interface Row {
  instance_id: string;
  name: string;
  entity_state: string | null;
  last_operation_at: Date | null;
  pending: string;
}

function toEntity(r: Row): EntityRow {
  return { instanceId: r.instance_id, name: r.name, state: r.entity_state, lastOperationAt: r.last_operation_at, pendingOperations: Number(r.pending) };
}

const COLUMNS = `instance_id, name, entity_state, last_operation_at, (SELECT count(*) FROM inbox m WHERE m.instance_id = instances.instance_id) AS pending`;

export async function getEntity(db: Queryable, instanceId: string): Promise<EntityRow | undefined> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM instances WHERE instance_id = $1 AND starts_with(instance_id, '@')`, [instanceId]);
  return rows[0] && toEntity(rows[0]);
}

export interface EntityFilter {
  name?: string | undefined;
  lastOperationFrom?: string | undefined;
  lastOperationTo?: string | undefined;
}

/** One page of entities that have state, in (name, id) order after the cursor (an entity's instance id); keyset paging over instances_entities. */
export async function listEntities(db: Queryable, filter: EntityFilter, limit: number, after: string | undefined): Promise<{ rows: EntityRow[]; next: string | undefined }> {
  const values: unknown[] = [];
  const where = [`starts_with(instance_id, '@')`, 'entity_state IS NOT NULL'];
  const add = (sql: (n: number) => string, value: unknown): void => {
    values.push(value);
    where.push(sql(values.length));
  };
  if (filter.name !== undefined) add((n) => `name = $${n}`, filter.name);
  if (filter.lastOperationFrom !== undefined) add((n) => `last_operation_at >= $${n}::timestamptz`, filter.lastOperationFrom);
  if (filter.lastOperationTo !== undefined) add((n) => `last_operation_at <= $${n}::timestamptz`, filter.lastOperationTo);
  if (after !== undefined) {
    values.push(after);
    where.push(`(name, instance_id) > (split_part(substr($${values.length}::text, 2), '@', 1), $${values.length}::text)`);
  }
  values.push(limit + 1);
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM instances WHERE ${where.join(' AND ')} ORDER BY name, instance_id LIMIT $${values.length}`, values);
  const more = rows.length > limit;
  const page = (more ? rows.slice(0, limit) : rows).map(toEntity);
  return { rows: page, next: more ? page.at(-1)?.instanceId : undefined };
}

/** The entity's row, locked for its turn (every change to an entity holds this lock, as for instances). */
export async function lockEntity(db: Queryable, instanceId: string): Promise<{ leaseOwner: string | null; state: string | null } | undefined> {
  const { rows } = await db.query<{ lease_owner: string | null; entity_state: string | null }>({
    name: 'taskhub.lock-entity',
    text: `SELECT lease_owner, entity_state FROM instances WHERE instance_id = $1 FOR NO KEY UPDATE`,
    values: [instanceId],
  });
  const row = rows[0];
  return row && { leaseOwner: row.lease_owner, state: row.entity_state };
}

/**
 * Instance rows: creation (where the single-instance guarantee is decided), reads, listings with
 * keyset paging, purges, and the row lock that serialises every change to one instance.
 */
import type { Queryable } from '../../db/pool.ts';
import { isUniqueViolation } from '../../db/sqlstate.ts';
import { isActive, type RuntimeStatus } from '../core/statuses.ts';
import type { Cursor, Instance, ListFilter } from '../core/instance.ts';
import { INSTANCE_COLUMNS, type InstanceRow, rowToInstance } from './rows.ts';
import { ACTIVE_SQL } from './sql.ts';

export const SINGLETON_INDEX = 'instances_one_active_per_singleton_key';

export interface NewInstance {
  instanceId: string;
  name: string;
  executionId: string;
  input: string | undefined;
  singletonKey: string | null;
  parent?: { instanceId: string; executionId: string; taskId: number } | undefined;
  /** The W3C traceparent of the start (src/orchestrator/instrumentation.ts). */
  traceContext?: string | undefined;
  /** Slots of its key (concurrency limit; singleton: 1). Undefined: no limit, the plain START. */
  limit?: number | undefined;
  /** The key debounced starts collapse on (the concurrency key, also without a limit). */
  debounceKey?: string | null | undefined;
  /** When no slot is free, join the key's queue instead of being refused (the statement takes the key's lock). */
  queue?: boolean | undefined;
}

export type CreateOutcome =
  /** claimed: its first turn is leased to the owner given (a start with a lease and no limit). */
  | { created: true; queued?: boolean; claimed?: boolean }
  | { created: false; reason: 'instance-active'; status: RuntimeStatus }
  | { created: false; reason: 'singleton-active' };

/** Insert the instance, or replace a terminal one with the same id (the first part of START). */
const CREATE = `
  INSERT INTO instances AS i (instance_id, name, execution_id, runtime_status, input, singleton_key,
    parent_instance_id, parent_execution_id, parent_task_id, trace_context, wake_at, lease_owner, lease_until, turn_attempts)
  VALUES ($1, $2, $3, 'Pending', $4, $5, $6, $7, $8, $9, now(), $11::text,
    CASE WHEN $11::text IS NULL THEN NULL ELSE now() + make_interval(secs => $12::int) END,
    CASE WHEN $11::text IS NULL THEN 0 ELSE 1 END)
  ON CONFLICT (instance_id) DO UPDATE SET
    name = EXCLUDED.name, execution_id = EXCLUDED.execution_id, runtime_status = 'Pending',
    input = EXCLUDED.input, output = NULL, custom_status = NULL, failure = NULL,
    singleton_key = EXCLUDED.singleton_key, parent_instance_id = EXCLUDED.parent_instance_id,
    parent_execution_id = EXCLUDED.parent_execution_id, parent_task_id = EXCLUDED.parent_task_id,
    trace_context = EXCLUDED.trace_context, created_at = now(), updated_at = now(), completed_at = NULL, history_length = 0, wake_at = now(),
    lease_owner = EXCLUDED.lease_owner, lease_until = EXCLUDED.lease_until, turn_attempts = EXCLUDED.turn_attempts,
    concurrency_slot = 0, queued_seq = NULL, debounce_at = NULL
  WHERE i.runtime_status NOT IN ${ACTIVE_SQL}
  RETURNING (xmax = 0) AS inserted`;

const STATUS_OF = `SELECT runtime_status FROM instances WHERE instance_id = $1`;

/** $1…$9 of START. */
function createValues(instance: NewInstance): unknown[] {
  return [
    instance.instanceId,
    instance.name,
    instance.executionId,
    instance.input ?? null,
    instance.singletonKey,
    instance.parent?.instanceId ?? null,
    instance.parent?.executionId ?? null,
    instance.parent?.taskId ?? null,
    instance.traceContext ?? null,
  ];
}

/**
 * The whole start in one statement, and the only statement that makes an instance exist: create or
 * replace the instance, drop a replaced instance's old history and messages, and announce the
 * wake-up. With a lease owner ($11, for $12 seconds) the new instance's first turn is claimed in the
 * same statement, as CLAIM would (store/turns.ts): a dispatcher of this process runs it after the
 * commit, without a claim of its own. The unique index decides singleton conflicts (23505); an active row with the same id
 * makes the conditional DO UPDATE return no row. The NOTIFY is sent only when a row was written,
 * and (as any NOTIFY) only when the surrounding transaction commits.
 */
const START = `
  WITH created AS (${CREATE}),
  old_history AS (
    DELETE FROM history WHERE instance_id = $1 AND execution_id <> $3 AND EXISTS (SELECT 1 FROM created WHERE NOT inserted)
  ),
  old_inbox AS (
    DELETE FROM inbox WHERE instance_id = $1 AND EXISTS (SELECT 1 FROM created WHERE NOT inserted)
  )
  SELECT inserted, CASE WHEN $10::text IS NOT NULL THEN pg_notify($10, '') END FROM created`;

/**
 * START for an orchestration with a concurrency limit ($11 slots per key): the same statement, with
 * the slot picked in it (concurrency_free_slot, migrations/0006), the lowest one no active row of
 * the key holds. Two starts that pick the same slot collide on the unique index (23505) and the
 * loser tries again (the next free slot, or the conflict); the pick is only a guess, the index
 * decides. No free slot: with $12 (queue) the row is written without a slot, with a place in line
 * (queued_seq) and no turn due; without it nothing is written (then `inserted` is NULL and `free`
 * NULL). With $12 the pick first takes the key's lock, held to the commit: a queued start is this
 * one statement, serialised with the releases of the key's slots (see the triggers of 0006).
 * The NOTIFY goes only with a slot.
 */
const START_LIMITED = `
  WITH pick AS (
    SELECT concurrency_free_slot($5, $11::int, $12::boolean) AS slot
  ), created AS (
    INSERT INTO instances AS i (instance_id, name, execution_id, runtime_status, input, singleton_key,
      parent_instance_id, parent_execution_id, parent_task_id, trace_context, concurrency_slot, queued_seq, wake_at)
    SELECT $1, $2, $3, 'Pending', $4, $5, $6, $7, $8, $9, pick.slot,
      CASE WHEN pick.slot IS NULL THEN nextval('instances_queue_seq') END,
      CASE WHEN pick.slot IS NULL THEN NULL ELSE now() END
    FROM pick WHERE pick.slot IS NOT NULL OR $12::boolean
    ON CONFLICT (instance_id) DO UPDATE SET
      name = EXCLUDED.name, execution_id = EXCLUDED.execution_id, runtime_status = 'Pending',
      input = EXCLUDED.input, output = NULL, custom_status = NULL, failure = NULL,
      singleton_key = EXCLUDED.singleton_key, parent_instance_id = EXCLUDED.parent_instance_id,
      parent_execution_id = EXCLUDED.parent_execution_id, parent_task_id = EXCLUDED.parent_task_id,
      trace_context = EXCLUDED.trace_context, created_at = now(), updated_at = now(), completed_at = NULL, history_length = 0,
      lease_owner = NULL, lease_until = NULL, turn_attempts = 0, concurrency_slot = EXCLUDED.concurrency_slot,
      queued_seq = EXCLUDED.queued_seq, debounce_at = NULL, wake_at = EXCLUDED.wake_at
    WHERE i.runtime_status NOT IN ${ACTIVE_SQL}
    RETURNING (xmax = 0) AS inserted, concurrency_slot
  ),
  old_history AS (
    DELETE FROM history WHERE instance_id = $1 AND execution_id <> $3 AND EXISTS (SELECT 1 FROM created WHERE NOT inserted)
  ),
  old_inbox AS (
    DELETE FROM inbox WHERE instance_id = $1 AND EXISTS (SELECT 1 FROM created WHERE NOT inserted)
  )
  SELECT c.inserted, c.concurrency_slot AS slot, p.slot AS free,
    CASE WHEN c.concurrency_slot IS NOT NULL AND $10::text IS NOT NULL THEN pg_notify($10, '') END AS notified
  FROM pick p LEFT JOIN created c ON true`;

/**
 * Where a start runs: `alone` is its own implicit transaction (one round trip; the HTTP start);
 * `inTransaction` joins the caller's, behind a savepoint, so that a singleton conflict does not
 * abort the caller's work (a turn starting a child, a schedule tick, terminate-and-replace).
 */
export type StartScope = 'alone' | 'inTransaction';

/**
 * Creates an instance (see START). Guarantee: at most one active instance per id and per singleton
 * key, whatever runs concurrently; on a conflict nothing is written and the outcome says which.
 * Throws only what the database throws besides the singleton's unique violation.
 */
/** `wakeChannel` null: no NOTIFY in the statement (the caller announces the start after it commits). */
export async function createInstance(
  db: Queryable,
  instance: NewInstance,
  wakeChannel: string | null,
  scope: StartScope,
  lease?: { owner: string; leaseSeconds: number },
): Promise<CreateOutcome> {
  // A singleton (limit 1) that does not queue is START itself: the column's DEFAULT 0 is its one slot.
  const limited = instance.limit !== undefined && instance.singletonKey !== null && (instance.limit > 1 || instance.queue === true);
  if (limited) return createLimited(db, instance, wakeChannel, scope, instance.limit as number);
  const savepoint = scope === 'inTransaction';
  if (savepoint) await db.query('SAVEPOINT create_instance');
  try {
    const { rows } = await db.query<{ inserted: boolean }>(START, [...createValues(instance), wakeChannel, lease?.owner ?? null, lease?.leaseSeconds ?? null]);
    if (savepoint) await db.query('RELEASE SAVEPOINT create_instance');
    if (rows[0] !== undefined) return lease ? { created: true, claimed: true } : { created: true };
  } catch (err) {
    if (savepoint) await db.query('ROLLBACK TO SAVEPOINT create_instance');
    if (isUniqueViolation(err, SINGLETON_INDEX)) return { created: false, reason: 'singleton-active' };
    throw err;
  }
  return { created: false, reason: 'instance-active', status: await statusOf(db, instance.instanceId) };
}

async function statusOf(db: Queryable, instanceId: string): Promise<RuntimeStatus> {
  const current = await db.query<{ runtime_status: RuntimeStatus }>(STATUS_OF, [instanceId]);
  return current.rows[0]?.runtime_status ?? 'Running';
}

/**
 * START_LIMITED, tried again when another start took the picked slot first (23505): then the next
 * free slot is picked, or none is left. With a limit of 1 and no queue a collision is the answer.
 */
async function createLimited(db: Queryable, instance: NewInstance, wakeChannel: string | null, scope: StartScope, limit: number): Promise<CreateOutcome> {
  const savepoint = scope === 'inTransaction';
  const queue = instance.queue === true;
  for (let attempt = 0; ; attempt++) {
    if (savepoint) await db.query('SAVEPOINT create_instance');
    let row: { inserted: boolean | null; slot: number | null; free: number | null } | undefined;
    try {
      ({ rows: [row] } = await db.query<{ inserted: boolean | null; slot: number | null; free: number | null }>(START_LIMITED, [
        ...createValues(instance),
        wakeChannel,
        limit,
        queue,
      ]));
      if (savepoint) await db.query('RELEASE SAVEPOINT create_instance');
    } catch (err) {
      if (savepoint) await db.query('ROLLBACK TO SAVEPOINT create_instance');
      if (!isUniqueViolation(err, SINGLETON_INDEX)) throw err;
      if ((limit === 1 && !queue) || attempt > limit + 2) return { created: false, reason: 'singleton-active' };
      continue;
    }
    if (row?.inserted !== null && row?.inserted !== undefined) return { created: true, queued: row.slot === null };
    const current = (await db.query<{ runtime_status: RuntimeStatus }>(STATUS_OF, [instance.instanceId])).rows[0]?.runtime_status;
    if (current !== undefined && isActive(current)) return { created: false, reason: 'instance-active', status: current };
    return { created: false, reason: 'singleton-active' };
  }
}

/** The slot holders of a key, oldest first (waiting and debouncing rows hold none). */
const ACTIVE_BY_KEY = `SELECT ${INSTANCE_COLUMNS} FROM instances WHERE singleton_key = $1 AND runtime_status IN ${ACTIVE_SQL}
  AND concurrency_slot IS NOT NULL ORDER BY created_at, instance_id LIMIT 1`;

const HOLDERS_OF_KEY = `SELECT ${INSTANCE_COLUMNS}, count(*) OVER () AS holders FROM instances
  WHERE singleton_key = $1 AND runtime_status IN ${ACTIVE_SQL} AND concurrency_slot IS NOT NULL ORDER BY created_at, instance_id LIMIT 1`;

/** The oldest slot holder of a key and how many hold one (the fast path of a contended start). */
export async function holdersOfKey(db: Queryable, key: string): Promise<{ oldest: Instance | undefined; count: number }> {
  const { rows } = await db.query<InstanceRow & { holders: string }>({ name: 'taskhub.holders-of-key', text: HOLDERS_OF_KEY, values: [key] });
  return { oldest: rows[0] && rowToInstance(rows[0]), count: rows[0] ? Number(rows[0].holders) : 0 };
}

/** The oldest active instance holding a slot of a key, if any (read after a conflict, to report it). */
export async function findActiveBySingletonKey(db: Queryable, key: string, lock = false): Promise<Instance | undefined> {
  const { rows } = lock
    ? await db.query<InstanceRow>(`${ACTIVE_BY_KEY} FOR NO KEY UPDATE`, [key])
    : await db.query<InstanceRow>({ name: 'taskhub.active-by-key', text: ACTIVE_BY_KEY, values: [key] });
  return rows[0] && rowToInstance(rows[0]);
}

const GET = `SELECT ${INSTANCE_COLUMNS} FROM instances WHERE instance_id = $1`;
const LOCK = `${GET} FOR NO KEY UPDATE`;

export async function getInstance(db: Queryable, instanceId: string): Promise<Instance | undefined> {
  const { rows } = await db.query<InstanceRow>({ name: 'taskhub.get-instance', text: GET, values: [instanceId] });
  return rows[0] && rowToInstance(rows[0]);
}

/** Reads and locks an instance row: every change to an instance holds this lock. */
export async function lockInstance(db: Queryable, instanceId: string): Promise<Instance | undefined> {
  const { rows } = await db.query<InstanceRow>({ name: 'taskhub.lock-instance', text: LOCK, values: [instanceId] });
  return rows[0] && rowToInstance(rows[0]);
}

export interface InstanceUpdate {
  status?: RuntimeStatus;
  output?: string | null;
  customStatus?: string | null;
  failure?: unknown;
  completed?: boolean;
  historyLength?: number;
  executionId?: string;
  input?: string | null;
  /** 'now' wakes it at once; 'inbox' at its earliest pending message; null: nothing to do. */
  wake?: 'now' | 'inbox' | null;
}

/** Updates the locked instance row; clears the turn lease. */
export async function updateInstance(db: Queryable, instanceId: string, u: InstanceUpdate): Promise<void> {
  const sets: string[] = ['updated_at = now()', 'lease_owner = NULL', 'lease_until = NULL', 'turn_attempts = 0'];
  const values: unknown[] = [instanceId];
  const set = (column: string, value: unknown, cast = ''): void => {
    values.push(value);
    sets.push(`${column} = $${values.length}${cast}`);
  };
  if (u.status !== undefined) set('runtime_status', u.status);
  if (u.output !== undefined) set('output', u.output);
  if (u.customStatus !== undefined) set('custom_status', u.customStatus);
  if (u.failure !== undefined) set('failure', u.failure === null ? null : JSON.stringify(u.failure), '::jsonb');
  if (u.completed !== undefined) sets.push(u.completed ? 'completed_at = now()' : 'completed_at = NULL');
  if (u.historyLength !== undefined) set('history_length', u.historyLength);
  if (u.executionId !== undefined) set('execution_id', u.executionId);
  if (u.input !== undefined) set('input', u.input);
  if (u.wake === 'now') sets.push('wake_at = now()');
  else if (u.wake === 'inbox') sets.push('wake_at = (SELECT min(deliver_at) FROM inbox WHERE inbox.instance_id = $1)');
  else if (u.wake === null) sets.push('wake_at = NULL');
  await db.query(`UPDATE instances SET ${sets.join(', ')} WHERE instance_id = $1`, values);
}

export type { Cursor, ListFilter } from '../core/instance.ts';

/**
 * Entities (`@name@key` rows, migrations/0008) are not orchestration instances: listings, counts and
 * filtered purges leave them out, as Durable Functions' instance queries do.
 */
export const NOT_ENTITY_SQL = "NOT starts_with(instance_id, '@')";

function filterSql(filter: ListFilter, values: unknown[]): string[] {
  const where: string[] = [NOT_ENTITY_SQL];
  if (filter.createdFrom) {
    values.push(filter.createdFrom);
    where.push(`created_at >= $${values.length}`);
  }
  if (filter.createdTo) {
    values.push(filter.createdTo);
    where.push(`created_at <= $${values.length}`);
  }
  if (filter.statuses && filter.statuses.length > 0) {
    values.push(filter.statuses);
    where.push(`runtime_status = ANY($${values.length}::text[])`);
  }
  if (filter.instanceIdPrefix) {
    values.push(filter.instanceIdPrefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%');
    where.push(`instance_id LIKE $${values.length}`);
  }
  if (filter.name) {
    values.push(filter.name);
    where.push(`name = $${values.length}`);
  }
  return where;
}

/**
 * One page of instances in (created_at, instance_id) order, after the cursor; keyset paging.
 * `newestFirst` walks the same index backwards (the cursor then means "before").
 */
export async function listInstances(
  db: Queryable,
  filter: ListFilter,
  limit: number,
  after: Cursor | undefined,
  newestFirst = false,
): Promise<{ rows: Instance[]; next: Cursor | undefined }> {
  const values: unknown[] = [];
  const where = filterSql(filter, values);
  if (after) {
    values.push(after.createdAt, after.instanceId);
    where.push(`(created_at, instance_id) ${newestFirst ? '<' : '>'} ($${values.length - 1}::timestamptz, $${values.length})`);
  }
  values.push(limit + 1);
  const direction = newestFirst ? 'DESC' : 'ASC';
  const sql = `SELECT ${INSTANCE_COLUMNS}, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key
    FROM instances WHERE ${where.join(' AND ')}
    ORDER BY created_at ${direction}, instance_id ${direction} LIMIT $${values.length}`;
  const { rows } = await db.query<InstanceRow & { created_key: string }>(sql, values);
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  return { rows: page.map(rowToInstance), next: more && last ? { createdAt: last.created_key, instanceId: last.instance_id } : undefined };
}

/** Deletes terminal instances matching the filter (history and messages go with them). */
export async function purgeInstances(db: Queryable, filter: ListFilter, terminal: readonly RuntimeStatus[]): Promise<number> {
  const values: unknown[] = [];
  const where = filterSql({ ...filter, statuses: undefined }, values);
  const statuses = filter.statuses && filter.statuses.length > 0 ? filter.statuses.filter((s) => terminal.includes(s)) : terminal;
  values.push(statuses);
  where.push(`runtime_status = ANY($${values.length}::text[])`);
  const { rowCount } = await db.query(`DELETE FROM instances WHERE ${where.join(' AND ')}`, values);
  return rowCount ?? 0;
}

/** Instances of the named orchestrations active past their deadline, oldest first, a bounded batch. */
const OVERDUE = `
  SELECT i.instance_id FROM instances i
  JOIN unnest($1::text[], $2::float8[]) AS d(name, seconds) ON i.name = d.name
  WHERE i.runtime_status IN ${ACTIVE_SQL} AND i.created_at < now() - d.seconds * interval '1 second' AND NOT starts_with(i.instance_id, '@')
  ORDER BY i.created_at LIMIT 100`;

/** Ids of active instances older than their orchestration's deadline (at most 100, oldest first). */
export async function findOverdue(db: Queryable, deadlines: ReadonlyArray<{ name: string; seconds: number }>): Promise<string[]> {
  const { rows } = await db.query<{ instance_id: string }>(OVERDUE, [deadlines.map((d) => d.name), deadlines.map((d) => d.seconds)]);
  return rows.map((r) => r.instance_id);
}

/** Which of these instances have ended (a terminal status) or no longer exist as active ones. */
const ENDED_AMONG = `SELECT instance_id FROM instances WHERE instance_id = ANY($1::text[]) AND runtime_status NOT IN ${ACTIVE_SQL}`;

export async function endedAmong(db: Queryable, instanceIds: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ instance_id: string }>(ENDED_AMONG, [instanceIds]);
  return rows.map((r) => r.instance_id);
}

export async function deleteInstance(db: Queryable, instanceId: string): Promise<void> {
  await db.query(`DELETE FROM instances WHERE instance_id = $1`, [instanceId]);
}


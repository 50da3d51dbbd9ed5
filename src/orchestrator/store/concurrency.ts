/**
 * Concurrency control's statements besides the start itself (START_LIMITED in instances.ts): the
 * key's lock, the queue (replacing the waiting start, positions), debounce (the collapsing start
 * and its promotion when the window passes), the safety-net sweep that hands free slots to waiters,
 * and the listing of GET /concurrency. The hand-off when a slot holder ends is not here: the
 * triggers of migrations/0006_concurrency.sql do it in the ending transaction, on every path.
 */
import type { Queryable } from '../../db/pool.ts';
import type { Instance } from '../core/instance.ts';
import { INSTANCE_COLUMNS, type InstanceRow, rowToInstance } from './rows.ts';
import { ACTIVE_SQL } from './sql.ts';
import type { NewInstance } from './instances.ts';

/** Takes the key's transaction lock (see concurrency_lock in 0006): queue joins and slot releases serialise on it. */
export async function lockKey(db: Queryable, key: string): Promise<void> {
  await db.query({ name: 'taskhub.concurrency-lock', text: 'SELECT concurrency_lock($1)', values: [key] });
}

/** The statuses a waiting or debouncing row may be in (a Suspended one keeps its place). */
const HELD = `('Pending', 'Suspended')`;

const WAITERS = `SELECT ${INSTANCE_COLUMNS} FROM instances
  WHERE singleton_key = $1 AND queued_seq IS NOT NULL AND runtime_status IN ${HELD} AND instance_id <> $2
  ORDER BY queued_seq FOR NO KEY UPDATE`;

/** The instances waiting in a key's queue other than `except`, locked, in line order. */
export async function lockWaiters(db: Queryable, key: string, except: string): Promise<Instance[]> {
  const { rows } = await db.query<InstanceRow>(WAITERS, [key, except]);
  return rows.map(rowToInstance);
}

/** Gives up a locked row's slot without handing it on (terminateExisting: the new start takes it). */
export async function dropSlot(db: Queryable, instanceId: string): Promise<void> {
  await db.query(`UPDATE instances SET concurrency_slot = NULL WHERE instance_id = $1`, [instanceId]);
}

/** The slot holders of a key, oldest first, locked (terminateExisting's victim is the first). */
export async function lockHolders(db: Queryable, key: string): Promise<Instance[]> {
  const { rows } = await db.query<InstanceRow>(
    `SELECT ${INSTANCE_COLUMNS} FROM instances WHERE singleton_key = $1 AND concurrency_slot IS NOT NULL AND runtime_status IN ${ACTIVE_SQL}
     ORDER BY created_at, instance_id FOR NO KEY UPDATE`,
    [key],
  );
  return rows.map(rowToInstance);
}

/**
 * A debounced start in one statement: a new debouncing row for the key, or (ON CONFLICT on the
 * one-debouncing-per-key index) the key's debouncing row takes this start's input and its start
 * time moves to now + seconds, capped at its first start + maxWaitSeconds. Concurrent starts of a
 * key serialise on that row; a start racing the row's promotion waits for it and then, the row no
 * longer debouncing, inserts the next one. Returns the instance that will run.
 */
const DEBOUNCE_START = `
  INSERT INTO instances AS i (instance_id, name, execution_id, runtime_status, input, singleton_key, trace_context,
    concurrency_slot, debounce_at, wake_at)
  VALUES ($1, $2, $3, 'Pending', $4, $5, $6, NULL, now() + make_interval(secs => LEAST($7::float8, $8::float8)), NULL)
  ON CONFLICT (singleton_key) WHERE debounce_at IS NOT NULL AND runtime_status IN ${HELD} DO UPDATE SET
    input = EXCLUDED.input, updated_at = now(),
    debounce_at = LEAST(now() + make_interval(secs => $7::float8), i.created_at + make_interval(secs => $8::float8))
  RETURNING instance_id, (xmax = 0) AS inserted`;

export async function debounceStart(
  db: Queryable,
  instance: NewInstance,
  window: { seconds: number; maxWaitSeconds: number },
): Promise<{ instanceId: string; inserted: boolean }> {
  const { rows } = await db.query<{ instance_id: string; inserted: boolean }>(DEBOUNCE_START, [
    instance.instanceId,
    instance.name,
    instance.executionId,
    instance.input ?? null,
    instance.debounceKey ?? instance.singletonKey,
    instance.traceContext ?? null,
    window.seconds,
    window.maxWaitSeconds,
  ]);
  const row = rows[0] as { instance_id: string; inserted: boolean };
  return { instanceId: row.instance_id, inserted: row.inserted };
}

/** Debounced rows whose time has come, locked (SKIP LOCKED: one promoter per row across processes). */
const DUE_DEBOUNCED = `
  SELECT instance_id, name, singleton_key FROM instances
  WHERE debounce_at <= now() AND runtime_status = 'Pending'
  ORDER BY debounce_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED`;

export async function claimDueDebounced(db: Queryable, max: number): Promise<Array<{ instanceId: string; name: string; key: string }>> {
  const { rows } = await db.query<{ instance_id: string; name: string; singleton_key: string }>(DUE_DEBOUNCED, [max]);
  return rows.map((r) => ({ instanceId: r.instance_id, name: r.name, key: r.singleton_key }));
}

/** The lowest free slot of the key in parameter `key` under the limit in `limit` (NULL: none free, or no limit); the caller holds the key's lock. */
const pick = (key: string, limit: string): string => `SELECT concurrency_free_slot(${key}, ${limit}::int, false) AS slot`;

/**
 * A debounced row's window passed: it starts. Without a limit ($3 NULL) it runs now; with one it
 * takes a free slot, or joins the key's queue (the caller holds the key's lock). 23505 when another
 * start took the picked slot first: the caller tries again.
 */
const PROMOTE = `
  WITH pick AS (${pick('$2', '$3')})
  UPDATE instances i SET debounce_at = NULL, updated_at = now(),
    concurrency_slot = pick.slot,
    queued_seq = CASE WHEN $3::int IS NOT NULL AND pick.slot IS NULL THEN nextval('instances_queue_seq') END,
    wake_at = CASE WHEN $3::int IS NOT NULL AND pick.slot IS NULL THEN NULL ELSE now() END
  FROM pick WHERE i.instance_id = $1 AND i.debounce_at IS NOT NULL
  RETURNING i.concurrency_slot AS slot, i.queued_seq`;

export async function promoteDebounced(db: Queryable, instanceId: string, key: string, limit: number | undefined): Promise<'running' | 'queued' | 'gone'> {
  const { rows } = await db.query<{ slot: number | null; queued_seq: string | null }>(PROMOTE, [instanceId, key, limit ?? null]);
  if (rows[0] === undefined) return 'gone';
  return rows[0].queued_seq === null ? 'running' : 'queued';
}

/**
 * The safety net: keys of limited orchestrations with a waiter and fewer slot holders than the
 * limit. Never the case while every release hands its slot on; it is after a limit was raised
 * (a redeploy), or after rows were changed by hand.
 */
const STARVED_KEYS = `
  SELECT DISTINCT w.singleton_key AS key, d.lim FROM instances w
  JOIN unnest($1::text[], $2::int[]) AS d(name, lim) ON d.name = w.name
  WHERE w.queued_seq IS NOT NULL AND w.runtime_status = 'Pending'
    AND (SELECT count(*) FROM instances h WHERE h.singleton_key = w.singleton_key
         AND h.concurrency_slot IS NOT NULL AND h.runtime_status IN ${ACTIVE_SQL}) < d.lim
  LIMIT 100`;

/** A free slot of key $1 (limit $2) to its oldest waiter, if both exist; run under the key's lock. */
const HAND_FREE = `
  WITH pick AS (${pick('$1', '$2')}),
  next AS (
    SELECT instance_id FROM instances WHERE singleton_key = $1 AND queued_seq IS NOT NULL AND runtime_status = 'Pending'
    ORDER BY queued_seq LIMIT 1 FOR NO KEY UPDATE
  )
  UPDATE instances i SET concurrency_slot = pick.slot, queued_seq = NULL, wake_at = now(), updated_at = now()
  FROM pick, next WHERE i.instance_id = next.instance_id AND pick.slot IS NOT NULL
  RETURNING i.instance_id`;

export async function starvedKeys(db: Queryable, limits: ReadonlyArray<{ name: string; limit: number }>): Promise<Array<{ key: string; limit: number }>> {
  const { rows } = await db.query<{ key: string; lim: number }>(STARVED_KEYS, [limits.map((l) => l.name), limits.map((l) => l.limit)]);
  return rows.map((r) => ({ key: r.key, limit: r.lim }));
}

/** Hands one free slot of the key to its oldest waiter (under the key's lock); the id, or undefined. */
export async function handFreeSlot(db: Queryable, key: string, limit: number): Promise<string | undefined> {
  const { rows } = await db.query<{ instance_id: string }>(HAND_FREE, [key, limit]);
  return rows[0]?.instance_id;
}

const POSITION = `SELECT count(*)::int AS n FROM instances
  WHERE singleton_key = $1 AND queued_seq IS NOT NULL AND queued_seq <= $2 AND runtime_status IN ${HELD}`;

/** A waiting instance's place in its key's line (1: next to run). */
export async function queuePosition(db: Queryable, key: string, queuedSeq: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(POSITION, [key, queuedSeq]);
  return rows[0]?.n ?? 0;
}

export interface KeyRow {
  name: string;
  key: string;
  instanceId: string;
  /** holder: has a slot; queued: waits in line; debouncing: its window has not passed. */
  state: 'holder' | 'queued' | 'debouncing';
  runtimeStatus: string;
  debounceAt: Date | null;
}

/** At most this many rows in one listing (the answer says when it stopped). */
export const LISTING_ROWS = 10_000;

const LISTING = `
  SELECT name, singleton_key, instance_id, runtime_status, debounce_at,
    CASE WHEN queued_seq IS NOT NULL THEN 'queued' WHEN debounce_at IS NOT NULL THEN 'debouncing'
         WHEN concurrency_slot IS NOT NULL THEN 'holder' END AS state
  FROM instances
  WHERE name = ANY($1::text[]) AND singleton_key IS NOT NULL AND runtime_status IN ${ACTIVE_SQL}
  ORDER BY name, singleton_key, queued_seq NULLS FIRST, created_at, instance_id
  LIMIT $2`;

/** The active, queued and debouncing instances of the named orchestrations, by key, in line order. */
export async function listKeys(db: Queryable, names: readonly string[]): Promise<{ rows: KeyRow[]; truncated: boolean }> {
  const { rows } = await db.query<{ name: string; singleton_key: string; instance_id: string; runtime_status: string; debounce_at: Date | null; state: KeyRow['state'] | null }>(
    LISTING,
    [names, LISTING_ROWS + 1],
  );
  const kept = rows.slice(0, LISTING_ROWS).filter((r) => r.state !== null);
  return {
    rows: kept.map((r) => ({
      name: r.name,
      key: r.singleton_key,
      instanceId: r.instance_id,
      state: r.state as KeyRow['state'],
      runtimeStatus: r.runtime_status,
      debounceAt: r.debounce_at,
    })),
    truncated: rows.length > LISTING_ROWS,
  };
}

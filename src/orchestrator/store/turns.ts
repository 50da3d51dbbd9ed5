/**
 * Claiming turns. A claim commits on its own: it leases due instances to one worker and counts the
 * attempt, so that a worker that crashes mid-turn leaves a lease that expires (another worker takes
 * over) and an attempt count that quarantines an instance whose turn keeps crashing workers.
 */
import type { Queryable } from '../../db/pool.ts';
import type { HistoryEvent } from '../core/history.ts';
import { eventArrays } from './rows.ts';
import { RUNNABLE_SQL } from './sql.ts';

/** Matches the predicate of instances_claimable (migrations/0004), so the claim scans only claimable rows. */
const CLAIM = `
  UPDATE instances SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
    turn_attempts = turn_attempts + 1
  WHERE instance_id IN (
    SELECT instance_id FROM instances
    WHERE wake_at <= now() AND wake_at IS NOT NULL AND lease_owner IS NULL
      AND runtime_status IN ${RUNNABLE_SQL}
    ORDER BY wake_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
  RETURNING instance_id, turn_attempts`;

export interface Claim {
  instanceId: string;
  attempts: number;
}

export async function claimDue(db: Queryable, owner: string, leaseSeconds: number, limit: number): Promise<Claim[]> {
  const { rows } = await db.query<{ instance_id: string; turn_attempts: number }>({ name: 'taskhub.claim', text: CLAIM, values: [owner, leaseSeconds, limit] });
  return rows.map((r) => ({ instanceId: r.instance_id, attempts: r.turn_attempts }));
}

/** CLAIM for the given instances only (those a transaction just made due): same lease, same attempt count. */
const CLAIM_THESE = `
  UPDATE instances SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
    turn_attempts = turn_attempts + 1
  WHERE instance_id IN (
    SELECT instance_id FROM instances
    WHERE instance_id = ANY($4::text[]) AND wake_at <= now() AND wake_at IS NOT NULL AND lease_owner IS NULL
      AND runtime_status IN ${RUNNABLE_SQL}
    ORDER BY wake_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED)
  RETURNING instance_id, turn_attempts`;

/** Claims the due turns of these instances (at most `limit`), in the caller's transaction. */
export async function claimThese(db: Queryable, owner: string, leaseSeconds: number, limit: number, instanceIds: readonly string[]): Promise<Claim[]> {
  if (limit <= 0 || instanceIds.length === 0) return [];
  const { rows } = await db.query<{ instance_id: string; turn_attempts: number }>({
    name: 'taskhub.claim-these',
    text: CLAIM_THESE,
    values: [owner, leaseSeconds, limit, instanceIds],
  });
  return rows.map((r) => ({ instanceId: r.instance_id, attempts: r.turn_attempts }));
}

const NEXT_DUE = `
  SELECT EXTRACT(EPOCH FROM (min(wake_at) - now())) * 1000 AS ms FROM instances
  WHERE wake_at IS NOT NULL AND lease_owner IS NULL AND runtime_status IN ${RUNNABLE_SQL}`;

const SWEEP = `
  UPDATE instances SET lease_owner = NULL, lease_until = NULL
  WHERE lease_owner IS NOT NULL AND lease_until < now()
  RETURNING instance_id`;

/**
 * Clears expired leases (their worker crashed or stalled mid-turn) so the instances can be claimed
 * again; the attempt each claim counted stays, for quarantine. A stalled worker that wakes up later
 * finds another owner and does nothing. Returns how many were cleared.
 */
export async function sweepExpiredLeases(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(SWEEP);
  return rowCount ?? 0;
}

/** Milliseconds until the next turn falls due (negative: overdue), or null when none is scheduled. */
export async function msUntilNextDue(db: Queryable): Promise<number | null> {
  const { rows } = await db.query<{ ms: string | null }>({ name: 'taskhub.next-due', text: NEXT_DUE });
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? null : Number(ms);
}

const RELEASE = `
  UPDATE instances SET lease_owner = NULL, lease_until = NULL,
    wake_at = CASE WHEN $3::float8 IS NULL THEN COALESCE(wake_at, now())
      ELSE GREATEST(COALESCE(wake_at, now()), now() + make_interval(secs => $3::float8)) END,
    turn_attempts = GREATEST(0, turn_attempts - $4::int)
  WHERE instance_id = $1 AND lease_owner = $2`;

/**
 * Gives a lease back after a turn that failed without crashing the worker, to be tried again after
 * `retryInSeconds` (the attempt still counts towards quarantine, unless `refundAttempt`: the turn
 * lost its database connection, which says nothing about the orchestration). `retryInSeconds`
 * null keeps the instance's place in the queue (its wake_at, from before the claim): after a blip
 * it goes first again, not behind every instance that fell due meanwhile. Without a release the
 * instance would wait for the whole lease to expire before each retry.
 */
export async function releaseLease(
  db: Queryable,
  instanceId: string,
  owner: string,
  retryInSeconds: number | null,
  options: { refundAttempt?: boolean } = {},
): Promise<void> {
  await db.query(RELEASE, [instanceId, owner, retryInSeconds, options.refundAttempt ? 1 : 0]);
}

/** The channel on which wake-ups are announced; NOTIFY is a hint, polling is the backstop. */
export function wakeChannel(schema: string): string {
  return `${schema}_wake`;
}

export async function notifyWake(db: Queryable, schema: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [wakeChannel(schema), '']);
}

/**
 * The end of an ordinary turn in one statement: consume the messages, append the history and update
 * the instance (Running, custom status, history length, lease cleared, next wake-up). The wake-up is
 * read from the statement's snapshot, which still holds the consumed messages: they are excluded,
 * through a hashed NOT IN: the prepared statement runs a generic plan after five executions, in
 * which `<> ALL($3)` compares each inbox row with every consumed id (a turn of 2,000 messages:
 * 49 ms for the wake-up alone, against 2 ms hashed; quadratic in the messages a turn applies).
 */
const COMMIT_TURN = `
  WITH consumed AS (
    DELETE FROM inbox WHERE instance_id = $1 AND message_id = ANY($3::text[])
  ), appended AS (
    INSERT INTO history (instance_id, execution_id, seq, event_type, event_time, event, payload)
    SELECT $1, $2, $4::int + ord - 1, t.event_type, t.event_time, t.event, t.payload
    FROM unnest($5::text[], $6::timestamptz[], $7::jsonb[], $8::text[]) WITH ORDINALITY AS t(event_type, event_time, event, payload, ord)
  )
  UPDATE instances SET runtime_status = 'Running', custom_status = $9, history_length = $4::int + cardinality($5::text[]),
    updated_at = now(), lease_owner = NULL, lease_until = NULL, turn_attempts = 0,
    wake_at = (SELECT min(deliver_at) FROM inbox WHERE inbox.instance_id = $1 AND inbox.message_id NOT IN (SELECT unnest($3::text[])))
  WHERE instance_id = $1`;

export interface TurnCommit {
  instanceId: string;
  executionId: string;
  consumed: readonly string[];
  firstSeq: number;
  events: readonly HistoryEvent[];
  customStatus: string | null;
}

export async function commitTurn(db: Queryable, t: TurnCommit): Promise<void> {
  await db.query({
    name: 'taskhub.commit-turn',
    text: COMMIT_TURN,
    values: [t.instanceId, t.executionId, t.consumed, t.firstSeq, ...eventArrays(t.events), t.customStatus],
  });
}

/**
 * The end of an execution in one statement: append the closing history, drop every pending message
 * and mark the instance terminal (lease cleared, nothing to wake for).
 */
const COMMIT_END = `
  WITH appended AS (
    INSERT INTO history (instance_id, execution_id, seq, event_type, event_time, event, payload)
    SELECT $1, $2, $3::int + ord - 1, t.event_type, t.event_time, t.event, t.payload
    FROM unnest($4::text[], $5::timestamptz[], $6::jsonb[], $7::text[]) WITH ORDINALITY AS t(event_type, event_time, event, payload, ord)
  ), cleared AS (
    DELETE FROM inbox WHERE instance_id = $1
  )
  UPDATE instances SET runtime_status = $8, output = $9, failure = $10::jsonb,
    custom_status = CASE WHEN $11::boolean THEN $12 ELSE custom_status END,
    history_length = $3::int + cardinality($4::text[]), completed_at = now(), updated_at = now(),
    wake_at = NULL, lease_owner = NULL, lease_until = NULL, turn_attempts = 0
  WHERE instance_id = $1`;

export interface EndCommit {
  instanceId: string;
  executionId: string;
  firstSeq: number;
  events: readonly HistoryEvent[];
  status: 'Completed' | 'Failed' | 'Terminated';
  output: string | null;
  failure: unknown;
  /** undefined: keep the custom status as it is. */
  customStatus: string | null | undefined;
}

export async function commitEnd(db: Queryable, e: EndCommit): Promise<void> {
  await db.query({
    name: 'taskhub.commit-end',
    text: COMMIT_END,
    values: [
      e.instanceId,
      e.executionId,
      e.firstSeq,
      ...eventArrays(e.events),
      e.status,
      e.output,
      e.failure === null || e.failure === undefined ? null : JSON.stringify(e.failure),
      e.customStatus !== undefined,
      e.customStatus ?? null,
    ],
  });
}

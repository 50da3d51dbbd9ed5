/**
 * Schedule rows: registered on start, claimed when due or when ticks wait in their buffer (SKIP
 * LOCKED), advanced with each tick's outcome. Each tick is one row of schedule_ticks, inserted
 * once (the primary key (name, tick_at) refuses a second); a buffered tick's later start is one
 * conditional UPDATE of that row (`started_at IS NULL`), in the transaction that starts its run.
 */
import type { Queryable } from '../../db/pool.ts';
import type { OverlapPolicy, Schedule, Tick, TickOutcome } from '../core/schedule.ts';

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  overlap: OverlapPolicy;
  catchup_window_seconds: number;
  input: string | null;
  next_run_at: Date;
  last_tick_at: Date | null;
  last_outcome: TickOutcome | null;
  last_instance_id: string | null;
  last_error: string | null;
  started_count: string;
  buffered_count: string;
  skipped_count: string;
  replaced_count: string;
  failed_count: string;
  /** What the last tick found (the holder that made it skip, a holder past its deadline), from its tick row. */
  last_detail?: string | null;
  waiting?: string | null;
}

interface TickRow {
  name: string;
  tick_at: Date;
  outcome: TickOutcome;
  instance_id: string | null;
  detail: string | null;
  started_at: Date | null;
}

function rowToTick(r: TickRow): Tick {
  return { tickAt: r.tick_at, outcome: r.outcome, instanceId: r.instance_id, detail: r.detail, startedAt: r.started_at };
}

function rowToSchedule(r: ScheduleRow, recentTicks: Tick[] = []): Schedule {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    overlap: r.overlap,
    catchupWindowSeconds: r.catchup_window_seconds,
    input: r.input,
    nextRunAt: r.next_run_at,
    lastTickAt: r.last_tick_at,
    lastOutcome: r.last_outcome,
    lastInstanceId: r.last_instance_id,
    lastError: r.last_error,
    lastDetail: r.last_detail ?? null,
    startedCount: Number(r.started_count),
    bufferedCount: Number(r.buffered_count),
    skippedCount: Number(r.skipped_count),
    replacedCount: Number(r.replaced_count),
    failedCount: Number(r.failed_count),
    waiting: Number(r.waiting ?? 0),
    recentTicks,
  };
}

/**
 * Registers (or updates) a schedule; a changed cron or time zone takes effect from its next tick,
 * a changed policy or window from the next pass (ticks already buffered keep waiting).
 */
const UPSERT = `
  INSERT INTO schedules (name, cron, timezone, input, next_run_at, overlap, catchup_window_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7)
  ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, input = EXCLUDED.input,
    overlap = EXCLUDED.overlap, catchup_window_seconds = EXCLUDED.catchup_window_seconds,
    next_run_at = CASE WHEN schedules.cron IS DISTINCT FROM EXCLUDED.cron OR schedules.timezone IS DISTINCT FROM EXCLUDED.timezone
                       THEN EXCLUDED.next_run_at ELSE schedules.next_run_at END,
    updated_at = now()
  WHERE (schedules.cron, schedules.timezone, schedules.input, schedules.overlap, schedules.catchup_window_seconds)
    IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone, EXCLUDED.input, EXCLUDED.overlap, EXCLUDED.catchup_window_seconds)`;

export interface ScheduleRegistration {
  name: string;
  cron: string;
  timezone: string;
  input: string | undefined;
  nextRunAt: Date;
  overlap?: OverlapPolicy | undefined;
  catchupWindowSeconds?: number | undefined;
}

export async function upsertSchedule(db: Queryable, s: ScheduleRegistration): Promise<void> {
  await db.query(UPSERT, [s.name, s.cron, s.timezone, s.input ?? null, s.nextRunAt, s.overlap ?? 'skip', s.catchupWindowSeconds ?? 31_536_000]);
}

/** Buffered ticks of schedule `s` still waiting (the partial index schedule_ticks_waiting). */
const WAITING_OF = (s: string): string =>
  `(SELECT count(*) FROM schedule_ticks w WHERE w.name = ${s}.name AND w.outcome = 'buffered' AND w.started_at IS NULL)`;

const CLAIM = `
  SELECT s.*, ${WAITING_OF('s')} AS waiting, now() AS db_now FROM schedules s
  WHERE s.name = ANY($1::text[])
    AND (s.next_run_at <= now()
         OR EXISTS (SELECT 1 FROM schedule_ticks w WHERE w.name = s.name AND w.outcome = 'buffered' AND w.started_at IS NULL))
  ORDER BY s.next_run_at FOR UPDATE OF s SKIP LOCKED`;

/** A claimed schedule and the transaction's clock (the one `recorded_at` uses). */
export interface ClaimedSchedule {
  schedule: Schedule;
  now: Date;
}

/**
 * Locks the schedules among `names` (the ones the caller's registry schedules) that are due or have
 * buffered ticks waiting, for this transaction; other workers skip them. A row left by an
 * orchestration no longer registered (or registered without its schedule now) is never claimed: no
 * tick is started or counted as failed for it, and a worker that does schedule it still finds it.
 */
export async function claimSchedules(db: Queryable, names: readonly string[]): Promise<ClaimedSchedule[]> {
  const { rows } = await db.query<ScheduleRow & { db_now: Date }>(CLAIM, [names]);
  return rows.map((r) => ({ schedule: rowToSchedule(r), now: r.db_now }));
}

export interface TickRecord {
  name: string;
  tickAt: Date;
  outcome: TickOutcome;
  instanceId: string | null;
  detail: string | null;
  nextRunAt: Date;
}

/** The tick's one row (a second insert of the same tick fails on the primary key) and the schedule's advance. */
const RECORD = `
  WITH tick AS (
    INSERT INTO schedule_ticks (name, tick_at, outcome, instance_id, detail) VALUES ($1, $2, $3, $4, $5)
  )
  UPDATE schedules SET next_run_at = $6, last_tick_at = $2, last_outcome = $3, last_instance_id = $4,
    last_error = CASE WHEN $3 = 'failed' THEN $5 ELSE last_error END,
    started_count = started_count + (CASE WHEN $3 = 'started' THEN 1 ELSE 0 END),
    buffered_count = buffered_count + (CASE WHEN $3 = 'buffered' THEN 1 ELSE 0 END),
    skipped_count = skipped_count + (CASE WHEN $3 = 'skipped' THEN 1 ELSE 0 END),
    replaced_count = replaced_count + (CASE WHEN $3 = 'replaced' THEN 1 ELSE 0 END),
    failed_count = failed_count + (CASE WHEN $3 = 'failed' THEN 1 ELSE 0 END),
    updated_at = now()
  WHERE name = $1`;

export async function recordTick(db: Queryable, t: TickRecord): Promise<void> {
  await db.query(RECORD, [t.name, t.tickAt, t.outcome, t.instanceId, t.detail, t.nextRunAt]);
}

const OLDEST_WAITING = `SELECT tick_at FROM schedule_ticks WHERE name = $1 AND outcome = 'buffered' AND started_at IS NULL ORDER BY tick_at LIMIT 1`;

/** The oldest buffered tick of a schedule still waiting (the head of its buffer), if any. */
export async function oldestWaitingTick(db: Queryable, name: string): Promise<Date | undefined> {
  const { rows } = await db.query<{ tick_at: Date }>(OLDEST_WAITING, [name]);
  return rows[0]?.tick_at;
}

const MARK_STARTED = `
  UPDATE schedule_ticks SET started_at = now(), instance_id = $3, detail = COALESCE($4, detail)
  WHERE name = $1 AND tick_at = $2 AND outcome = 'buffered' AND started_at IS NULL`;

/**
 * Records, once, that a buffered tick left the buffer: its run `instanceId` started (or, with null
 * and a `detail`, its start could not even be planned). False when the tick had already left it:
 * the caller then rolls back the start it made.
 */
export async function markBufferedStarted(db: Queryable, name: string, tickAt: Date, instanceId: string | null, detail: string | null): Promise<boolean> {
  const { rowCount } = await db.query(MARK_STARTED, [name, tickAt, instanceId, detail]);
  return rowCount === 1;
}

/** Keeps a bounded log of ticks: the last `keep` per schedule, and every buffered tick still waiting. */
export async function pruneTicks(db: Queryable, keep: number): Promise<void> {
  await db.query(
    `DELETE FROM schedule_ticks t USING (
       SELECT name, tick_at FROM (
         SELECT name, tick_at, outcome, started_at, row_number() OVER (PARTITION BY name ORDER BY tick_at DESC) AS rn FROM schedule_ticks) r
       WHERE rn > $1 AND NOT (outcome = 'buffered' AND started_at IS NULL)) old
     WHERE t.name = old.name AND t.tick_at = old.tick_at`,
    [keep],
  );
}

const LIST = `SELECT s.*, t.detail AS last_detail, ${WAITING_OF('s')} AS waiting, r.recent FROM schedules s
  LEFT JOIN schedule_ticks t ON t.name = s.name AND t.tick_at = s.last_tick_at
  LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('tick_at', x.tick_at, 'outcome', x.outcome, 'instance_id', x.instance_id, 'detail', x.detail,
                                      'started_at', x.started_at) ORDER BY x.tick_at DESC) AS recent
    FROM (SELECT * FROM schedule_ticks x WHERE x.name = s.name ORDER BY x.tick_at DESC LIMIT $1) x
  ) r ON true
  ORDER BY s.name`;

type RecentJson = Array<Omit<TickRow, 'name' | 'tick_at' | 'started_at'> & { tick_at: string; started_at: string | null }>;

/** Every schedule, by name, with its waiting buffer and its newest `recent` ticks (newest first), in one statement. */
export async function listSchedules(db: Queryable, recent = 0): Promise<Schedule[]> {
  const { rows } = await db.query<ScheduleRow & { recent: RecentJson | null }>(LIST, [Math.max(0, recent)]);
  return rows.map((r) =>
    rowToSchedule(
      r,
      (r.recent ?? []).map((t) => ({
        tickAt: new Date(t.tick_at),
        outcome: t.outcome,
        instanceId: t.instance_id,
        detail: t.detail,
        startedAt: t.started_at === null ? null : new Date(t.started_at),
      })),
    ),
  );
}

const NEXT = `SELECT EXTRACT(EPOCH FROM (min(next_run_at) - now())) * 1000 AS ms,
  bool_or(EXISTS (SELECT 1 FROM schedule_ticks w WHERE w.name = s.name AND w.outcome = 'buffered' AND w.started_at IS NULL)) AS waiting
  FROM schedules s WHERE s.name = ANY($1::text[])`;

/**
 * Milliseconds until the next tick among `names` (negative when one is overdue; null when none),
 * and whether any of them has buffered ticks waiting (the loop then looks again soon).
 */
export async function untilNextSchedule(db: Queryable, names: readonly string[]): Promise<{ ms: number | null; waiting: boolean }> {
  const { rows } = await db.query<{ ms: string | null; waiting: boolean | null }>(NEXT, [names]);
  const ms = rows[0]?.ms;
  return { ms: ms === null || ms === undefined ? null : Number(ms), waiting: rows[0]?.waiting === true };
}

/** The last `limit` ticks of a schedule, newest first (the primary key's index, walked backwards). */
export async function listTicks(db: Queryable, name: string, limit: number): Promise<Tick[]> {
  const { rows } = await db.query<TickRow>(
    'SELECT name, tick_at, outcome, instance_id, detail, started_at FROM schedule_ticks WHERE name = $1 ORDER BY tick_at DESC LIMIT $2',
    [name, limit],
  );
  return rows.map(rowToTick);
}

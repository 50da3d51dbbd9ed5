/** Schedule rows: registered on start, claimed when due (SKIP LOCKED), advanced with their outcome. */
import type { Queryable } from '../../db/pool.ts';
import type { Schedule, Tick, TickOutcome } from '../core/schedule.ts';

interface ScheduleRow {
  name: string;
  cron: string;
  timezone: string;
  input: string | null;
  next_run_at: Date;
  last_tick_at: Date | null;
  last_outcome: TickOutcome | null;
  last_instance_id: string | null;
  last_error: string | null;
  started_count: string;
  skipped_count: string;
  failed_count: string;
  /** What the last tick found (the holder that made it skip, a holder past its deadline), from its tick row. */
  last_detail?: string | null;
}

function rowToSchedule(r: ScheduleRow): Schedule {
  return {
    name: r.name,
    cron: r.cron,
    timezone: r.timezone,
    input: r.input,
    nextRunAt: r.next_run_at,
    lastTickAt: r.last_tick_at,
    lastOutcome: r.last_outcome,
    lastInstanceId: r.last_instance_id,
    lastError: r.last_error,
    lastDetail: r.last_detail ?? null,
    startedCount: Number(r.started_count),
    skippedCount: Number(r.skipped_count),
    failedCount: Number(r.failed_count),
  };
}

/** Registers (or updates) a schedule; a changed cron or time zone takes effect from its next tick. */
const UPSERT = `
  INSERT INTO schedules (name, cron, timezone, input, next_run_at) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, timezone = EXCLUDED.timezone, input = EXCLUDED.input,
    next_run_at = CASE WHEN schedules.cron IS DISTINCT FROM EXCLUDED.cron OR schedules.timezone IS DISTINCT FROM EXCLUDED.timezone
                       THEN EXCLUDED.next_run_at ELSE schedules.next_run_at END,
    updated_at = now()
  WHERE (schedules.cron, schedules.timezone, schedules.input) IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.timezone, EXCLUDED.input)`;

export async function upsertSchedule(
  db: Queryable,
  s: { name: string; cron: string; timezone: string; input: string | undefined; nextRunAt: Date },
): Promise<void> {
  await db.query(UPSERT, [s.name, s.cron, s.timezone, s.input ?? null, s.nextRunAt]);
}

const CLAIM_DUE = `SELECT * FROM schedules WHERE next_run_at <= now() AND name = ANY($1::text[])
  ORDER BY next_run_at FOR UPDATE SKIP LOCKED`;

/**
 * Locks the due schedules among `names` (the ones the caller's registry schedules) for this
 * transaction; other workers skip them. A row left by an orchestration no longer registered (or
 * registered without its schedule now) is never claimed: no tick is started or counted as failed
 * for it, and a worker that does schedule it still finds it.
 */
export async function claimDueSchedules(db: Queryable, names: readonly string[]): Promise<Schedule[]> {
  const { rows } = await db.query<ScheduleRow>(CLAIM_DUE, [names]);
  return rows.map(rowToSchedule);
}

export interface TickRecord {
  name: string;
  tickAt: Date;
  outcome: TickOutcome;
  instanceId: string | null;
  detail: string | null;
  nextRunAt: Date;
}

const RECORD = `
  WITH tick AS (
    INSERT INTO schedule_ticks (name, tick_at, outcome, instance_id, detail) VALUES ($1, $2, $3, $4, $5)
  )
  UPDATE schedules SET next_run_at = $6, last_tick_at = $2, last_outcome = $3, last_instance_id = $4,
    last_error = CASE WHEN $3 = 'failed' THEN $5 ELSE last_error END,
    started_count = started_count + (CASE WHEN $3 = 'started' THEN 1 ELSE 0 END),
    skipped_count = skipped_count + (CASE WHEN $3 = 'skipped' THEN 1 ELSE 0 END),
    failed_count = failed_count + (CASE WHEN $3 = 'failed' THEN 1 ELSE 0 END),
    updated_at = now()
  WHERE name = $1`;

export async function recordTick(db: Queryable, t: TickRecord): Promise<void> {
  await db.query(RECORD, [t.name, t.tickAt, t.outcome, t.instanceId, t.detail, t.nextRunAt]);
}

/** Keeps a bounded log of ticks: the last `keep` per schedule. */
export async function pruneTicks(db: Queryable, keep: number): Promise<void> {
  await db.query(
    `DELETE FROM schedule_ticks t USING (
       SELECT name, tick_at FROM (
         SELECT name, tick_at, row_number() OVER (PARTITION BY name ORDER BY tick_at DESC) AS rn FROM schedule_ticks) r
       WHERE rn > $1) old
     WHERE t.name = old.name AND t.tick_at = old.tick_at`,
    [keep],
  );
}

export async function listSchedules(db: Queryable): Promise<Schedule[]> {
  const { rows } = await db.query<ScheduleRow>(
    `SELECT s.*, t.detail AS last_detail FROM schedules s
     LEFT JOIN schedule_ticks t ON t.name = s.name AND t.tick_at = s.last_tick_at ORDER BY s.name`,
  );
  return rows.map(rowToSchedule);
}

const NEXT = `SELECT EXTRACT(EPOCH FROM (min(next_run_at) - now())) * 1000 AS ms FROM schedules WHERE name = ANY($1::text[])`;

/** Milliseconds until the next tick among `names` (negative when one is overdue); null when none. */
export async function msUntilNextSchedule(db: Queryable, names: readonly string[]): Promise<number | null> {
  const { rows } = await db.query<{ ms: string | null }>(NEXT, [names]);
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? null : Number(ms);
}

/** The last `limit` ticks of a schedule, newest first (the primary key's index, walked backwards). */
export async function listTicks(db: Queryable, name: string, limit: number): Promise<Tick[]> {
  const { rows } = await db.query<{ tick_at: Date; outcome: TickOutcome; instance_id: string | null; detail: string | null }>(
    'SELECT tick_at, outcome, instance_id, detail FROM schedule_ticks WHERE name = $1 ORDER BY tick_at DESC LIMIT $2',
    [name, limit],
  );
  return rows.map((r) => ({ tickAt: r.tick_at, outcome: r.outcome, instanceId: r.instance_id, detail: r.detail }));
}

/**
 * Schedules as the engine and the control plane see them (the store maps its rows to these), and
 * the pure part of a tick's decision: which due ticks are even tried (catch-up window, a
 * terminateOther catch-up starting only the newest) and what a tried tick does when the schedule's
 * slot is held (the overlap policy). Whether the slot is held is the database's answer (the unique
 * index refusing the start), never decided here.
 */

/** What a tick does when the run it started earlier is still active (Temporal's ScheduleOverlapPolicy). */
export const OVERLAP_POLICIES = ['skip', 'bufferOne', 'bufferAll', 'terminateOther', 'allowAll'] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/**
 * started: the tick started a run. buffered: it waits for the running instance and starts when that
 * ends (its `startedAt` says when). skipped: it started nothing (still running, buffer full, beyond
 * the catch-up window, superseded in a catch-up). replaced: it terminated the running instance and
 * started (terminateOther). failed: its start could not be made.
 */
export const TICK_OUTCOMES = ['started', 'buffered', 'skipped', 'replaced', 'failed'] as const;
export type TickOutcome = (typeof TICK_OUTCOMES)[number];

/** Temporal's default catch-up window: one year. A missed tick later than this is recorded as skipped. */
export const DEFAULT_CATCHUP_WINDOW_SECONDS = 365 * 24 * 3600;
/** Ticks a schedule's buffer holds (bufferAll); a tick beyond it is skipped, as Temporal's buffer limit does. */
export const BUFFER_LIMIT = 1000;

export interface Schedule {
  /** The orchestration it starts. */
  name: string;
  cron: string;
  timezone: string;
  overlap: OverlapPolicy;
  catchupWindowSeconds: number;
  /** JSON text of the input each run starts with (null: none). */
  input: string | null;
  nextRunAt: Date;
  lastTickAt: Date | null;
  lastOutcome: TickOutcome | null;
  lastInstanceId: string | null;
  lastError: string | null;
  /** What the last tick found (the holder that made it skip, a holder past its deadline); null when not read. */
  lastDetail: string | null;
  startedCount: number;
  bufferedCount: number;
  skippedCount: number;
  replacedCount: number;
  failedCount: number;
  /** Buffered ticks still waiting for the running instance to end (0 when not read). */
  waiting: number;
  /** The newest ticks, newest first (empty when not read). */
  recentTicks: Tick[];
}

/** One tick of a schedule, as its tick log keeps it. */
export interface Tick {
  tickAt: Date;
  outcome: TickOutcome;
  instanceId: string | null;
  detail: string | null;
  /** A buffered tick: when its run started (null while it waits, and for every other outcome). */
  startedAt: Date | null;
}

/** A due tick, before any start: tried (per the overlap policy) or skipped outright, with why. */
export interface TickPlan {
  tickAt: Date;
  skip?: string;
}

/**
 * Which due ticks of one pass are tried. A tick handled more than the catch-up window after its
 * time (missed while no worker ran) is skipped; so, under terminateOther, is every tried tick but
 * the newest of a catch-up (Temporal starts only the last: each would terminate the one before).
 */
export function planDueTicks(ticks: readonly Date[], now: Date, overlap: OverlapPolicy, catchupWindowSeconds: number): TickPlan[] {
  const plans: TickPlan[] = ticks.map((tickAt) => {
    const lateSeconds = (now.getTime() - tickAt.getTime()) / 1000;
    if (lateSeconds <= catchupWindowSeconds) return { tickAt };
    return { tickAt, skip: `missed by ${lateSeconds.toFixed(1)} s, beyond the catch-up window (catchupWindowSeconds ${catchupWindowSeconds})` };
  });
  if (overlap === 'terminateOther') {
    const tried = plans.filter((p) => p.skip === undefined);
    const newest = tried.at(-1);
    for (const p of tried.slice(0, -1)) p.skip = `superseded by the newer tick ${newest?.tickAt.toISOString()} of the same catch-up (terminateOther starts only the newest)`;
  }
  return plans;
}

/** What a tried tick does when the slot is held: wait in the buffer, start nothing, or end the holder. */
export type WhenHeld = { action: 'buffer' } | { action: 'skip'; detail: string } | { action: 'terminate' };

/** The overlap policy's answer for a tick whose slot is held, given how many ticks already wait; `detail` follows what held it. */
export function whenHeld(overlap: OverlapPolicy, waiting: number): WhenHeld {
  switch (overlap) {
    case 'bufferOne':
      return waiting === 0 ? { action: 'buffer' } : { action: 'skip', detail: '; a tick already waits in the buffer (bufferOne keeps one)' };
    case 'bufferAll':
      return waiting < BUFFER_LIMIT ? { action: 'buffer' } : { action: 'skip', detail: `; the buffer is full (${BUFFER_LIMIT} ticks wait)` };
    case 'terminateOther':
      return { action: 'terminate' };
    case 'allowAll':
      return { action: 'skip', detail: "; the orchestration itself is single-instance (allowAll lifts only the schedule's own limit)" };
    case 'skip':
      return { action: 'skip', detail: ' (overlap skip)' };
  }
}

/** Whether a tick may try to start at once: a buffering schedule with ticks waiting keeps their order. */
export function mustQueueBehind(overlap: OverlapPolicy, waiting: number): boolean {
  return waiting > 0 && (overlap === 'bufferOne' || overlap === 'bufferAll');
}

/** The longest catch-up window accepted: ten years (the column is an integer of seconds). */
export const MAX_CATCHUP_WINDOW_SECONDS = 10 * 365 * 24 * 3600;

/** Throws a clear error for an unknown overlap policy or a catch-up window that is not a whole number of seconds in range. */
export function validateOverlap(name: string, schedule: { overlap?: unknown; catchupWindowSeconds?: unknown }): void {
  const { overlap, catchupWindowSeconds: window } = schedule;
  if (overlap !== undefined && !(OVERLAP_POLICIES as readonly unknown[]).includes(overlap)) {
    throw new Error(`orchestration '${name}' has an invalid schedule: overlap must be one of ${OVERLAP_POLICIES.join(', ')}, got ${JSON.stringify(overlap)}`);
  }
  if (window !== undefined && !(Number.isInteger(window) && (window as number) >= 1 && (window as number) <= MAX_CATCHUP_WINDOW_SECONDS)) {
    throw new Error(`orchestration '${name}' has an invalid schedule: catchupWindowSeconds must be a whole number of seconds from 1 to ${MAX_CATCHUP_WINDOW_SECONDS}, got ${JSON.stringify(window)}`);
  }
}

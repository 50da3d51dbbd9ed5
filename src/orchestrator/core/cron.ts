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

/** The next tick strictly after `after`, or undefined for a schedule that never fires again. */
export function nextTick(schedule: CronSchedule, after: Date): Date | undefined {
  const cron = new Cron(schedule.cron, { timezone: schedule.timezone ?? 'UTC', paused: true });
  return cron.nextRun(after) ?? undefined;
}

/** Throws a clear error for a bad cron expression or time zone (checked at registration). */
export function validateSchedule(name: string, schedule: CronSchedule): void {
  try {
    nextTick(schedule, new Date(0));
  } catch (err) {
    throw new Error(`orchestration '${name}' has an invalid schedule: ${(err as Error).message}`, { cause: err });
  }
}

/** A registered schedule as the engine and the control plane see it (the store maps its rows to this). */

export type TickOutcome = 'started' | 'skipped' | 'failed';

export interface Schedule {
  /** The orchestration it starts. */
  name: string;
  cron: string;
  timezone: string;
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
  skippedCount: number;
  failedCount: number;
}

/** One tick of a schedule, as its tick log keeps it. */
export interface Tick {
  tickAt: Date;
  outcome: TickOutcome;
  instanceId: string | null;
  detail: string | null;
}

/**
 * A database outage as one component sees it: the first connection error of an outage is logged
 * once at warn, the first success after it logs a matching "recovered" line with how long it
 * lasted. Retries in between back off quickly and briefly (25 ms doubling to 1 s): a blip
 * (pg_terminate_backend, a failover) then costs about as long as the blip, not a lease or a
 * heartbeat timeout.
 */
import type { Logger } from 'pino';
import { describePgError } from './pool.ts';
import { isConnectionError } from './sqlstate.ts';

/** The delay before retry number `attempt` (0-based) after a connection error. */
export function blipBackoffMs(attempt: number): number {
  return Math.min(1000, 25 * 2 ** attempt);
}

export class Outage {
  private since: number | undefined;
  private readonly log: Logger;
  private readonly what: string;

  constructor(log: Logger, what: string) {
    this.log = log;
    this.what = what;
  }

  /** True when `err` means the connection was lost (logged at warn once per outage); false for any other error. */
  failed(err: unknown): boolean {
    if (!isConnectionError(err)) return false;
    if (this.since === undefined) {
      this.since = Date.now();
      this.log.warn({ err: describePgError(err), component: this.what }, `${this.what}: database connection lost; retrying`);
    }
    return true;
  }

  /** Called after a database call succeeded: ends the outage, if there was one, with one line. */
  recovered(): void {
    if (this.since === undefined) return;
    const outageMs = Date.now() - this.since;
    this.since = undefined;
    this.log.warn({ outageMs, component: this.what }, `${this.what}: database connection recovered`);
  }
}

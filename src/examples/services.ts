/** Services the example activities use; filled in once the database is up. */
import type { Pool } from '../db/pool.ts';

export interface ExampleServices {
  pool: Pool | undefined;
}

/**
 * The pool, once the process has handed it over. The activity worker starts inside startTaskHub,
 * before the caller gets the hub's pool back, so an activity queued before a restart can run in
 * that window: it waits for the pool (briefly) instead of failing its instance.
 */
export async function requirePool(services: ExampleServices, waitMs = 30_000): Promise<Pool> {
  for (let waited = 0; services.pool === undefined; waited += 20) {
    if (waited >= waitMs) throw new Error('the example activities need a database pool');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return services.pool;
}

export interface ExampleOptions {
  /** Cron schedule of DataIngest (default: daily at 02:00 UTC); null turns it off. */
  dataIngestSchedule?: { cron: string; timezone?: string } | null;
  dataIngestSources?: number;
}

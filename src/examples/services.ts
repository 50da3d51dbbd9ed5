/** Services the example activities use; filled in once the database is up. */
import type { Pool } from '../db/pool.ts';

export interface ExampleServices {
  pool: Pool | undefined;
}

export function requirePool(services: ExampleServices): Pool {
  if (services.pool === undefined) throw new Error('the example activities need a database pool');
  return services.pool;
}

export interface ExampleOptions {
  /** Cron schedule of DataIngest (default: daily at 02:00 UTC); null turns it off. */
  dataIngestSchedule?: { cron: string; timezone?: string } | null;
  dataIngestSources?: number;
}

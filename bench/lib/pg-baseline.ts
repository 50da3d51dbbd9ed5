/**
 * Baseline 1, the Postgres limit: single-row INSERT commits per second from Node (node-postgres,
 * autocommit: one commit per row), at concurrency 1 and 32, on a fresh database of the same server.
 */
import pg from 'pg';
import { round, since } from './stats.ts';

export interface PgBaselineResult {
  concurrency: number;
  commits: number;
  seconds: number;
  commitsPerSecond: number;
  latencyMsMean: number;
}

async function insertLoop(url: string, concurrency: number, seconds: number, maxCommits: number): Promise<PgBaselineResult> {
  const pool = new pg.Pool({ connectionString: url, max: concurrency, application_name: 'pg-taskhub-bench' });
  pool.on('error', () => undefined);
  try {
    // Open every connection before the clock starts.
    const clients = await Promise.all(Array.from({ length: concurrency }, () => pool.connect()));
    for (const c of clients) c.release();
    let commits = 0;
    const start = performance.now();
    const endAt = start + seconds * 1000;
    const worker = async (): Promise<void> => {
      const client = await pool.connect();
      try {
        while (performance.now() < endAt && commits < maxCommits) {
          await client.query('INSERT INTO bench_insert (payload) VALUES ($1)', ['{"hello":"world"}']);
          commits++;
        }
      } finally {
        client.release();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsed = since(start) / 1000;
    return {
      concurrency,
      commits,
      seconds: round(elapsed, 3),
      commitsPerSecond: round(commits / elapsed, 1),
      latencyMsMean: round((elapsed * 1000 * concurrency) / commits, 3),
    };
  } finally {
    await pool.end();
  }
}

export async function pgBaseline(url: string, seconds: number): Promise<{ c1: PgBaselineResult; c32: PgBaselineResult }> {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  try {
    await setup.query('CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
  } finally {
    await setup.end();
  }
  const c1 = await insertLoop(url, 1, seconds, 2_000_000);
  const c32 = await insertLoop(url, 32, seconds, 2_000_000);
  return { c1, c32 };
}

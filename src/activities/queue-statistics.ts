/**
 * The planner's picture of the activity queue, kept current after bursts of jobs. pg-boss fetches
 * with `ORDER BY priority DESC, created_on LIMIT n FOR UPDATE SKIP LOCKED` over a partial index of
 * the queued jobs; when the table's statistics say that hardly any job is queued (a fresh table,
 * never analyzed, or one analyzed while its rows were completed jobs), the planner estimates a
 * handful of rows and reads every queued job with a bitmap scan and sorts them, per fetch: a fan-out
 * of N activities then costs O(N) per fetch of 50 and O(N²) in all. Measured with pg-boss alone on
 * PostgreSQL 15, 100,000 jobs in a fresh queue: 49 ms per fetch (external sort of 100,000 rows),
 * against 3 ms after one ANALYZE (an index scan that stops at 50), at every depth of the queue.
 * Autovacuum analyzes the table too late for that (at most once a minute, after 10 % of it changed).
 *
 * So after commits that enqueued many jobs since the last look, this process looks, off the turn's
 * path (after the commit, on a connection of the engine pool, one look at a time, at most one per
 * interval): it compares the planner's estimate of the queued jobs (EXPLAIN, no execution) with a
 * count of them bounded just past what matters, and runs ANALYZE (SKIP_LOCKED: autovacuum or
 * another process at it is enough) only when at least `afterJobs` are queued and the estimate is
 * under half of them. A steady flow with a short queue, or a long queue the statistics already
 * know, costs two cheap statements per look, not an ANALYZE (on a table of retained completed jobs
 * that is a 30,000-row sample each time). An overestimate is harmless: the index scan stops at the
 * fetch's LIMIT whatever the queue holds. The count of jobs is taken at enqueue, inside the
 * transactions, so a rolled-back turn still counts: the only cost is an early look.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { describePgError, type Pool, type Queryable } from '../db/pool.ts';
import type { ActivityJob, ActivityQueue } from '../orchestrator/ports.ts';

export interface QueueStatisticsOptions {
  /** Jobs enqueued since the last look that call for another, and the queued jobs that call for an ANALYZE (default 1,000). */
  afterJobs?: number;
  /** Least time between two looks of this process (default 5 s); a burst within it waits for its end. */
  minIntervalMs?: number;
}

export class QueueStatistics {
  private readonly pool: Pool;
  private readonly table: () => Promise<string>;
  private readonly queue: string;
  private readonly log: Logger;
  private readonly afterJobs: number;
  private readonly minIntervalMs: number;
  private enqueued = 0;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  /** A commit came while a look ran: look again when it ends. */
  private again = false;

  /** `table` names the queue's job table, qualified (pg-boss keeps a queue in a shared or its own table). */
  constructor(pool: Pool, queue: string, table: () => Promise<{ schema: string; table: string }>, log: Logger, options: QueueStatisticsOptions = {}) {
    this.pool = pool;
    this.queue = queue;
    let name: Promise<string> | undefined;
    this.table = () => {
      name ??= table().then((t) => `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(t.table)}`);
      name.catch(() => (name = undefined));
      return name;
    };
    this.log = log;
    this.afterJobs = options.afterJobs ?? 1000;
    this.minIntervalMs = options.minIntervalMs ?? 5000;
  }

  /** The same queue, counting the jobs it enqueues. */
  counting(queue: ActivityQueue): ActivityQueue {
    return {
      enqueue: (db: Queryable, jobs: readonly ActivityJob[], claim?: number) => {
        this.enqueued += jobs.length;
        return queue.enqueue(db, jobs, claim);
      },
      cancel: (db: Queryable, jobIds: readonly string[]) => queue.cancel(db, jobIds),
    };
  }

  /** After a commit that enqueued jobs: looks at the queue's statistics when enough were enqueued since the last look. */
  committed(): void {
    if (this.closed || this.enqueued < this.afterJobs || this.timer !== undefined) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    const wait = this.lastAt + this.minIntervalMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.committed();
      }, wait);
      this.timer.unref();
      return;
    }
    this.enqueued = 0;
    this.lastAt = performance.now();
    this.running = this.analyze().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.committed();
      }
    });
  }

  private async analyze(): Promise<void> {
    try {
      const table = await this.table();
      const queued = `FROM ${table} WHERE name = ${pg.escapeLiteral(this.queue)} AND state < 'active' AND NOT blocked`;
      const { rows: plan } = await this.pool.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) SELECT 1 ${queued}`);
      const estimate = plan[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'] ?? 0;
      // Counted only as far as it decides: at least afterJobs, and more than twice the estimate.
      const enough = Math.max(this.afterJobs, 2 * Math.ceil(estimate) + 1);
      const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 ${queued} LIMIT $1) q`, [enough]);
      if ((rows[0]?.n ?? 0) < enough) return;
      await this.pool.query(`ANALYZE (SKIP_LOCKED) ${table}`);
    } catch (err) {
      // Only the fetch plan suffers; autovacuum analyzes the table eventually.
      if (!this.closed) this.log.warn({ err: describePgError(err) }, 'analyzing the activity queue failed');
    }
  }

  /** Stops looking; waits for a look (and its ANALYZE) in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/**
 * The pg-boss queue that carries activity calls. One queue for all activities: every worker serves
 * every registered activity, and one poller per process keeps the database load flat.
 */
import type { PgBoss } from 'pg-boss';
import { bossDb, type Queryable } from '../db/pool.ts';
import type { ActivityJob, ActivityQueue, ClaimedJob } from '../orchestrator/ports.ts';

export const ACTIVITY_QUEUE = 'taskhub.activities';

export type { ActivityJobData } from '../orchestrator/ports.ts';

export interface ActivityQueueOptions {
  heartbeatSeconds: number;
  expireSeconds: number;
  poisonAttempts: number;
}

/**
 * Creates (or updates) the queue. Retries here are crash recovery only: an activity that throws is
 * completed with its failure as data, and retry policy belongs to the orchestration
 * (callActivityWithRetry). retryLimit = poisonAttempts lets the worker see the attempt after the
 * last allowed crash and quarantine it instead of running it again.
 */
export async function ensureActivityQueue(boss: PgBoss, options: ActivityQueueOptions): Promise<void> {
  const settings = {
    // No NOTIFY in the inserting transaction (it serialises the commits of every turn that enqueues):
    // the enqueuing process announces new jobs after its commit, on the same channel (taskhub.ts).
    notify: false,
    heartbeatSeconds: options.heartbeatSeconds,
    expireInSeconds: options.expireSeconds,
    retryLimit: options.poisonAttempts,
    retryDelay: 0,
    retryBackoff: false,
    // The engine keeps results in history; pg-boss rows are only a delivery mechanism.
    deleteAfterSeconds: 60 * 60,
    retentionSeconds: 14 * 24 * 60 * 60,
  };
  await boss.createQueue(ACTIVITY_QUEUE, settings);
  await boss.updateQueue(ACTIVITY_QUEUE, settings);
}

/** Jobs per insert statement (each a round trip on the turn's connection). */
const INSERT_CHUNK = 1000;

/**
 * Claims jobs just inserted in this transaction for this process's worker, as pg-boss's fetch claims
 * a job (state active, started and heartbeat now, the first attempt), returning the columns a fetch
 * returns. Through the partitioned parent on the queue's name, as pg-boss's own settle statements.
 */
function claimSql(bossSchema: string): string {
  return `UPDATE ${bossSchema}.job SET state = 'active', started_on = ${bossSchema}.job_now(), heartbeat_on = ${bossSchema}.job_now()
    WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'created'
    RETURNING id, name, data, retry_count AS "retryCount", expire_seconds AS "expireInSeconds", heartbeat_seconds AS "heartbeatSeconds"`;
}

/** The engine's ActivityQueue port on pg-boss: jobs inserted and cancelled on the caller's connection. */
export class PgBossActivityQueue implements ActivityQueue {
  private readonly boss: PgBoss;
  private readonly claim: string;

  constructor(boss: PgBoss, bossSchema: string) {
    this.boss = boss;
    this.claim = claimSql(bossSchema);
  }

  async enqueue(db: Queryable, jobs: readonly ActivityJob[], claim = 0): Promise<readonly ClaimedJob[]> {
    // In statements of INSERT_CHUNK jobs: a 10,000-task fan-out's first turn otherwise builds and
    // serialises one 10,000-row statement in a single stretch of the event loop.
    for (let i = 0; i < jobs.length; i += INSERT_CHUNK) {
      await this.boss.insert(
        ACTIVITY_QUEUE,
        jobs.slice(i, i + INSERT_CHUNK).map((j) => ({ id: j.id, data: j.data })),
        { db: bossDb(db) },
      );
    }
    if (claim <= 0 || jobs.length === 0) return [];
    const ids = jobs.slice(0, claim).map((j) => j.id);
    const { rows } = await db.query<ClaimedJob>(this.claim, [ACTIVITY_QUEUE, ids]);
    return rows;
  }

  /** Cancels queued and running jobs (terminate); a running handler learns of it through its signal. */
  async cancel(db: Queryable, jobIds: readonly string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await this.boss.cancel(ACTIVITY_QUEUE, [...jobIds], { db: bossDb(db) });
  }
}

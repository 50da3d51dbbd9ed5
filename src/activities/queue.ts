/**
 * The pg-boss queue that carries activity calls. One queue for all activities: every worker serves
 * every registered activity, and one poller per process keeps the database load flat.
 */
import type { PgBoss } from 'pg-boss';
import { bossDb, type Queryable } from '../db/pool.ts';

export const ACTIVITY_QUEUE = 'taskhub.activities';

export interface ActivityJobData {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** JSON text of the input (undefined: no input). */
  input?: string | undefined;
  /** For a retry of callActivityWithRetry: the task id of the call's first attempt (its identity). */
  callTaskId?: number | undefined;
  /** For a retry: deliveries of the earlier attempts of the same call (policy retries and redeliveries). */
  priorAttempts?: number | undefined;
  /** W3C traceparent of the turn that scheduled it: the attempt's span continues that trace. */
  trace?: string | undefined;
}

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
    notify: true,
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

/** Enqueues activity jobs on the caller's connection, i.e. inside the caller's transaction. */
export async function enqueueActivities(
  boss: PgBoss,
  db: Queryable,
  jobs: ReadonlyArray<{ id: string; data: ActivityJobData }>,
): Promise<void> {
  // In statements of INSERT_CHUNK jobs: a 10,000-task fan-out's first turn otherwise builds and
  // serialises one 10,000-row statement in a single stretch of the event loop.
  for (let i = 0; i < jobs.length; i += INSERT_CHUNK) {
    await boss.insert(
      ACTIVITY_QUEUE,
      jobs.slice(i, i + INSERT_CHUNK).map((j) => ({ id: j.id, data: j.data })),
      { db: bossDb(db) },
    );
  }
}

/** Jobs per insert statement (each a round trip on the turn's connection). */
const INSERT_CHUNK = 1000;

/** Cancels queued and running jobs (terminate); a running handler learns of it through its signal. */
export async function cancelActivities(boss: PgBoss, db: Queryable, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await boss.cancel(ACTIVITY_QUEUE, [...jobIds], { db: bossDb(db) });
}

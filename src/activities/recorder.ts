/**
 * Records activity results: each result becomes an inbox message (keyed by execution and task id,
 * so a duplicate result is dropped) and wakes its instance, in one transaction with completing the
 * job in pg-boss. Results that arrive while a flush is running are grouped into the next one, so a
 * 5,000-activity fan-out is a few hundred transactions, not 5,000.
 */
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import { bossDb, type Pool, withTransaction } from '../db/pool.ts';
import type { HistoryEvent } from '../orchestrator/history.ts';
import { taskResultId } from '../orchestrator/core/message-ids.ts';
import { deliver } from '../orchestrator/store/inbox.ts';
import { notifyWake } from '../orchestrator/store/turns.ts';
import { ACTIVITY_QUEUE } from './queue.ts';

export interface ActivityResult {
  jobId: string;
  instanceId: string;
  executionId: string;
  event: Extract<HistoryEvent, { type: 'TaskCompleted' | 'TaskFailed' }>;
}

interface Pending {
  result: ActivityResult;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The most results written in one transaction. */
const MAX_BATCH = 500;

export class ResultRecorder {
  private readonly pool: Pool;
  private readonly boss: PgBoss;
  private readonly schema: string;
  private readonly log: Logger;
  private readonly onRecorded: (() => void) | undefined;
  private queue: Pending[] = [];
  private flushing = false;

  /** `onRecorded` runs after results were committed (wakes a local dispatcher without NOTIFY). */
  constructor(pool: Pool, boss: PgBoss, schema: string, log: Logger, onRecorded?: () => void) {
    this.pool = pool;
    this.boss = boss;
    this.schema = schema;
    this.log = log;
    this.onRecorded = onRecorded;
  }

  /** Resolves once the result is durable (or was a duplicate). */
  record(result: ActivityResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ result, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.write(batch.map((p) => p.result));
          this.onRecorded?.();
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(results: ActivityResult[]): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const delivered = await deliver(
        client,
        results.map((r) => ({
          instanceId: r.instanceId,
          executionId: r.executionId,
          messageId: taskResultId(r.executionId, r.event.taskId),
          event: r.event,
        })),
      );
      // complete() only settles jobs still active under this claim; a job cancelled by terminate
      // or taken over after expiry is left as it is.
      await this.boss.complete(ACTIVITY_QUEUE, results.map((r) => r.jobId), null, { db: bossDb(client) });
      if (delivered > 0) await notifyWake(client, this.schema);
    });
    this.log.debug({ results: results.length }, 'activity results recorded');
  }
}

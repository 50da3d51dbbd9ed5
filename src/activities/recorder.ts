/**
 * Records activity results: each result becomes an inbox message (keyed by execution and task id,
 * so a duplicate result is dropped) and wakes its instance, in one transaction with completing the
 * job in pg-boss. Results that arrive while a flush is running are grouped into the next one, so a
 * 5,000-activity fan-out is a few hundred transactions, not 5,000.
 */
import type { Logger } from 'pino';
import type { PgBoss } from 'pg-boss';
import { blipBackoffMs, Outage } from '../db/outage.ts';
import { bossDb, type Pool, withTransaction } from '../db/pool.ts';
import { recordTaskResults, type TaskResult } from '../orchestrator/activity-results.ts';
import type { EngineContext } from '../orchestrator/lifecycle.ts';
import type { TurnHandoff, WakeUp } from '../orchestrator/ports.ts';
import { ACTIVITY_QUEUE } from './queue.ts';

export interface ActivityResult extends TaskResult {
  /** The job and the attempt that was fetched: completing is fenced to that attempt. */
  job: { id: string; retryCount: number };
}

interface Pending {
  result: ActivityResult;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The most results written in one transaction. */
const MAX_BATCH = 500;

/**
 * How long a batch is retried while the database connection is lost. The write is idempotent
 * (results keyed by task, complete() only settles jobs still active under this claim), so retrying
 * is safe; giving up instead would fail the job and run the activity again (measured before: 319
 * duplicate executions in the conn-kill scenario). Beyond this the job's heartbeat has lapsed and
 * pg-boss redelivers it anyway.
 */
const RETRY_FOR_MS = 60_000;

export class ResultRecorder {
  private readonly pool: Pool;
  private readonly boss: PgBoss;
  private readonly ctx: EngineContext;
  private readonly log: Logger;
  private readonly onRecorded: WakeUp | undefined;
  private readonly handoff: TurnHandoff | undefined;
  private queue: Pending[] = [];
  private flushing = false;
  private readonly outage: Outage;

  /**
   * `onRecorded` runs after results were committed (wakes a local dispatcher without NOTIFY);
   * `handoff` lends that dispatcher's free turn slots, so the turns the results make due are claimed
   * in the results' own transaction and run at once.
   */
  constructor(pool: Pool, boss: PgBoss, ctx: EngineContext, log: Logger, onRecorded?: WakeUp, handoff?: TurnHandoff) {
    this.pool = pool;
    this.boss = boss;
    this.ctx = ctx;
    this.log = log;
    this.onRecorded = onRecorded;
    this.handoff = handoff;
    this.outage = new Outage(log, 'activity result recorder');
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
          // Woken only for turns the batch made due and did not claim itself.
          if (await this.writeRetrying(batch.map((p) => p.result))) this.onRecorded?.();
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Writes a batch; a lost connection is retried promptly (logged once, with a "recovered" line).
   * Resolves true when some turn it made due was not claimed in its transaction.
   */
  private async writeRetrying(results: ActivityResult[]): Promise<boolean> {
    const deadline = Date.now() + RETRY_FOR_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        const unclaimed = await this.write(results);
        this.outage.recovered();
        return unclaimed;
      } catch (err) {
        if (!this.outage.failed(err) || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, blipBackoffMs(attempt)));
      }
    }
  }

  private async write(results: ActivityResult[]): Promise<boolean> {
    const reservation = this.handoff?.reserve(new Set(results.map((r) => r.instanceId)).size);
    let recorded: Awaited<ReturnType<typeof recordTaskResults>>;
    try {
      recorded = await withTransaction(this.pool, async (client) => {
        // complete() only settles jobs still active under this attempt's claim; a job cancelled by
        // terminate or taken over after expiry is left as it is. Pipelined with the delivery.
        const [inTx] = await Promise.all([
          recordTaskResults(this.ctx, client, results, reservation),
          this.boss.complete(ACTIVITY_QUEUE, results.map((r) => r.job), null, { db: bossDb(client) }),
        ]);
        return inTx;
      });
    } catch (err) {
      if (reservation) this.handoff?.release(reservation);
      throw err;
    }
    const { claims } = recorded;
    if (reservation) this.handoff?.adopt(reservation, claims);
    if (recorded.unclaimed) this.ctx.wake?.turns();
    this.log.debug({ results: results.length, turnsClaimed: claims.length }, 'activity results recorded');
    return recorded.unclaimed;
  }
}

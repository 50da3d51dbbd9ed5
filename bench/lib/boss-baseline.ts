/**
 * Baseline 2, the pg-boss limit: 10,000 no-op jobs inserted with one `insert` and worked by a worker
 * with the engine's settings (batchSize, localConcurrency, burstWhenBatchFull, useListenNotify and a
 * `notify` queue, the same pool size and polling intervals as src/taskhub.ts and src/activities/*).
 * Also: send → handler latency of single jobs through LISTEN/NOTIFY.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type ConstructorOptions, PgBoss } from 'pg-boss';
import { PreparingClient } from '../../src/db/prepared.ts';
import type { Config } from '../../src/config.ts';
import { CpuMeter, type CpuPerOp, perOp } from './cpu.ts';
import { round, since, sleep, summarize, type LatencySummary } from './stats.ts';

export interface BossSettings {
  poolMax: number;
  batchSize: number;
  localConcurrency: number;
  burstWhenBatchFull: boolean;
  useListenNotify: boolean;
  queueNotify: boolean;
  pollingIntervalSeconds: number;
  notifyPollingIntervalSeconds: number;
}

export interface BossBaselineResult {
  jobs: number;
  settings: BossSettings;
  insertSeconds: number;
  insertJobsPerSecond: number;
  /** From the start of the insert to the last job completed. */
  totalSeconds: number;
  /** jobs / totalSeconds: the raw figure the engine's fan-out is compared with. */
  jobsPerSecond: number;
  /** From the end of the insert to the last job completed. */
  drainJobsPerSecond: number;
  sendToHandlerMs: LatencySummary;
  /** CPU per job (insert + work + complete): this process (pg-boss) and the PostgreSQL backends. */
  cpu: CpuPerOp;
}

/** The worker settings the engine derives from its configuration (src/taskhub.ts, src/activities/worker.ts). */
export function engineBossSettings(config: Pick<Config, 'pg' | 'engine'>): BossSettings {
  const pollingIntervalSeconds = Math.max(0.5, config.engine.pollIntervalMs / 1000);
  return {
    poolMax: Math.max(4, Math.ceil(config.pg.poolMax / 2)),
    batchSize: config.engine.activityBatchSize,
    localConcurrency: Math.max(1, Math.ceil(config.engine.activityConcurrency / config.engine.activityBatchSize)),
    burstWhenBatchFull: true,
    useListenNotify: true,
    queueNotify: true,
    pollingIntervalSeconds,
    notifyPollingIntervalSeconds: Math.max(pollingIntervalSeconds, 2),
  };
}

export async function bossBaseline(url: string, settings: BossSettings, jobs: number, latencySamples: number, timeoutMs: number, localPostgres: boolean): Promise<BossBaselineResult> {
  const schema = 'bench_boss';
  // The engine's pg-boss runs its statements prepared (src/db/prepared.ts); so does the baseline.
  const options: ConstructorOptions & { Client: typeof PreparingClient } = {
    Client: PreparingClient,
    connectionString: url,
    schema,
    max: settings.poolMax,
    useListenNotify: settings.useListenNotify,
    superviseIntervalSeconds: 5,
    monitorIntervalSeconds: 5,
    schedule: false,
    application_name: 'pg-taskhub-bench-boss',
  };
  const boss = new PgBoss(options);
  boss.on('error', () => undefined);
  await boss.start();
  const check = new pg.Client({ connectionString: url });
  await check.connect();
  try {
    const queueSettings = { notify: settings.queueNotify, retryLimit: 5, retryDelay: 0, retryBackoff: false, deleteAfterSeconds: 3600, expireInSeconds: 3600 };

    // Send → handler latency: one job at a time, the worker idle in between.
    const latencyQueue = 'bench.latency';
    await boss.createQueue(latencyQueue, queueSettings);
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let latencyWake: (() => void) | undefined;
    const latencyWorker = await boss.work<{ k: string }>(
      latencyQueue,
      { batchSize: settings.batchSize, localConcurrency: settings.localConcurrency, burstWhenBatchFull: true, pollingIntervalSeconds: settings.pollingIntervalSeconds, notifyPollingIntervalSeconds: settings.notifyPollingIntervalSeconds },
      async (batch) => {
        for (const job of batch) {
          const t = sentAt.get(job.data.k);
          if (t !== undefined) latencies.push(since(t));
        }
        latencyWake?.();
      },
    );
    for (let i = 0; i < latencySamples; i++) {
      const k = randomUUID();
      const done = new Promise<void>((resolve) => (latencyWake = resolve));
      sentAt.set(k, performance.now());
      await boss.send(latencyQueue, { k });
      await Promise.race([done, sleep(5000)]);
      await sleep(5);
    }
    await boss.offWork(latencyQueue, { id: latencyWorker });

    // Throughput: one insert of `jobs` no-op jobs, worked with the engine's settings.
    const queue = 'bench.noop';
    await boss.createQueue(queue, queueSettings);
    let handled = 0;
    let allHandled: (() => void) | undefined;
    const handledPromise = new Promise<void>((resolve) => (allHandled = resolve));
    await boss.work(
      queue,
      {
        batchSize: settings.batchSize,
        localConcurrency: settings.localConcurrency,
        burstWhenBatchFull: settings.burstWhenBatchFull,
        pollingIntervalSeconds: settings.pollingIntervalSeconds,
        notifyPollingIntervalSeconds: settings.notifyPollingIntervalSeconds,
      },
      async (batch) => {
        handled += batch.length;
        if (handled >= jobs) allHandled?.();
      },
    );
    const payload = Array.from({ length: jobs }, (_, i) => ({ id: randomUUID(), data: { instanceId: 'bench', executionId: randomUUID(), taskId: i, name: 'Noop' } }));
    const cpu = new CpuMeter(process.pid, check, localPostgres);
    await cpu.start();
    const start = performance.now();
    await boss.insert(queue, payload);
    const insertSeconds = since(start) / 1000;
    const timedOut = await Promise.race([handledPromise.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) throw new Error(`pg-boss baseline: only ${handled} of ${jobs} jobs handled within ${timeoutMs} ms`);
    // The last batch is completed right after its handler returns: wait until pg-boss has.
    const deadline = performance.now() + 30_000;
    for (;;) {
      const { rows } = await check.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.job WHERE name = $1 AND state = 'completed'`, [queue]);
      if (Number(rows[0]?.n) >= jobs || performance.now() > deadline) break;
      await sleep(2);
    }
    const totalSeconds = since(start) / 1000;
    const usage = await cpu.stop();
    return {
      jobs,
      settings,
      insertSeconds: round(insertSeconds, 3),
      insertJobsPerSecond: round(jobs / insertSeconds, 1),
      totalSeconds: round(totalSeconds, 3),
      jobsPerSecond: round(jobs / totalSeconds, 1),
      drainJobsPerSecond: round(jobs / (totalSeconds - insertSeconds), 1),
      sendToHandlerMs: summarize(latencies),
      cpu: perOp(usage, jobs),
    };
  } finally {
    await check.end();
    await boss.stop({ graceful: false, close: true, timeout: 5000 }).catch(() => undefined);
  }
}

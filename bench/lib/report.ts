/**
 * Results: one JSON file per run under bench/results/, a chart (SVG) beside it, and BENCHMARKS.md,
 * written from a results file only: every figure in it comes from that file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TelemetryCostResult } from './telemetry-cost.ts';
import type { BossBaselineResult, BossSettings } from './boss-baseline.ts';
import type { BulkheadResult } from './bulkhead.ts';
import type { ConcurrencyResult } from './concurrency.ts';
import type { CpuPerOp } from './cpu.ts';
import type { DbosResult } from './dbos.ts';
import type { FanOutResult, SingletonResult, StartsResult, StatusReadsResult, StepLatencyResult } from './engine.ts';
import type { PgBaselineResult } from './pg-baseline.ts';
import type { PointReadResult } from './point-read.ts';
import { ratio, round } from './stats.ts';
import { formatValue, renderChart, type Panel } from './svg.ts';

export const BENCH_NAMES = ['pg', 'pointread', 'boss', 'starts', 'status', 'singleton', 'concurrency', 'steps', 'fanout', 'scale', 'split', 'bulkhead', 'dbos', 'telemetry'] as const;
export type BenchName = (typeof BENCH_NAMES)[number];

export interface Plan {
  /** Off/on pairs of the telemetry cost comparison (9). */
  telemetryRounds?: number;
  pgSeconds: number;
  bossJobs: number;
  bossLatencySamples: number;
  startsSeconds: number;
  startsConnections: number;
  statusSeconds: number;
  statusConnections: number;
  singletonConcurrent: number;
  singletonRounds: number;
  /** Concurrent starts per policy of the concurrency storm, and releases timed for the queue hand-off. */
  concurrencyConcurrent?: number;
  handOffSamples?: number;
  stepRuns: number;
  stepWarmup: number;
  stepPollMs: number;
  fanOut: number;
  fanOutTimeoutMs: number;
  dbosRuns: number;
  dbosWarmup: number;
  dbosFanOut: number;
  dbosQueuePollingIntervalMs: number;
  dbosTimeoutMs: number;
  bulkheadRuns: number;
  bulkheadReaders: number;
  bulkheadHistoryCount: number;
  /** Fan-out sizes of the scale series (each on a fresh server and database). */
  fanOutScale?: number[];
  /** Worker processes beside one API process in the split run. */
  splitWorkers?: number;
  splitStepRuns?: number;
}

export interface RunResults {
  format: 1;
  name: string;
  mode: 'quick' | 'full';
  only: BenchName[] | null;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    os: string;
    node: string;
    postgres: string;
    postgresSettings: Record<string, string>;
    database: string;
    packages: Record<string, string>;
    git: string;
    /** 1-minute load averages at the start and the end of the run (other processes share the cores). */
    loadAverage?: { start: number; end: number };
  };
  settings: {
    plan: Plan;
    server: { env: Record<string, string>; tunedByCaller: Record<string, string>; effective: unknown };
    boss: BossSettings;
  };
  results: {
    pg?: { c1: PgBaselineResult; c32: PgBaselineResult };
    pointread?: PointReadResult;
    scale?: Array<FanOutResult & { env: Record<string, string> }>;
    split?: { workers: number; steps: StepLatencyResult; starts: StartsResult; fanout: FanOutResult };
    boss?: BossBaselineResult;
    starts?: StartsResult;
    status?: StatusReadsResult;
    singleton?: SingletonResult;
    concurrency?: ConcurrencyResult;
    steps?: StepLatencyResult;
    fanout?: FanOutResult;
    bulkhead?: BulkheadResult;
    dbos?: DbosResult;
    telemetry?: TelemetryCostResult;
  };
  errors: Partial<Record<BenchName, string>>;
}

/** Issue 17's targets, each a ratio to a baseline of the same run (the others are issue 11's). */
export const TARGETS = {
  /** HelloSequence p50 over HTTP at most this many times DBOS's three-step p50. */
  helloVsDbos: 2,
  /** starts/s at least this share of PostgreSQL's single-row commits/s at 32 connections. */
  startsVsPg32: 0.2,
  /** fan-out activities/s at least this share of raw pg-boss's drain rate (engine settings). */
  fanOutVsBossDrain: 0.35,
  /** Per-activity time of the largest fan-out at most this many times the 10,000 one's (linear time). */
  scaleLinearity: 1.5,
  /** status reads/s at least this share of the bare Fastify + pg point read. */
  statusVsPointRead: 0.8,
  /** Contended single-instance start p99 at most this share of DBOS's deduplicated-start p99. */
  singletonVsDbosDedupP99: 0.5,
  readFloodRatio: 3,
  hungSlotsRatio: 0.7,
  fanOutLoopDelayMs: 100,
  telemetryCostPercent: 5,
};

/** The same-run ratios the report shows (undefined when a side was not measured). */
export function ratios(r: RunResults['results']) {
  const dbosFan = r.dbos && !('error' in r.dbos.fanOut) ? r.dbos.fanOut : undefined;
  const scale = perActivityGrowth(r.scale);
  return {
    startsVsPg32: ratio(r.starts?.okPerSecond, r.pg?.c32.commitsPerSecond),
    statusVsPointRead: ratio(r.status?.okPerSecond, r.pointread?.okPerSecond),
    fanOutVsBoss: ratio(r.fanout?.activitiesPerSecond, r.boss?.jobsPerSecond),
    fanOutVsBossDrain: ratio(r.fanout?.activitiesPerSecond, r.boss?.drainJobsPerSecond),
    helloVsDbosP50: ratio(r.steps?.clientMs.p50, r.dbos?.steps.clientMs.p50),
    helloWaitVsDbosP50: ratio(r.steps?.waitMode?.clientMs.p50, r.dbos?.steps.clientMs.p50),
    helloWaitVsDbosP99: ratio(r.steps?.waitMode?.clientMs.p99, r.dbos?.steps.clientMs.p99),
    helloServerVsDbosP50: ratio(r.steps?.serverMs.p50, r.dbos?.steps.clientMs.p50),
    helloVsDbosP99: ratio(r.steps?.clientMs.p99, r.dbos?.steps.clientMs.p99),
    fanOutVsDbos: ratio(r.fanout?.activitiesPerSecond, dbosFan?.itemsPerSecond),
    rssVsDbos: ratio(r.fanout?.peakRssMiB, dbosFan?.peakRssMiB),
    singletonVsDbosDedupP99: ratio(r.singleton?.latencyMs.p99, r.dbos?.dedup?.latencyMs.p99),
    scaleLinearity: scale?.growth,
    splitStartsVsPg32: ratio(r.split?.starts.okPerSecond, r.pg?.c32.commitsPerSecond),
    splitHelloVsDbosP50: ratio(r.split?.steps.clientMs.p50, r.dbos?.steps.clientMs.p50),
    splitFanOutVsBossDrain: ratio(r.split?.fanout.activitiesPerSecond, r.boss?.drainJobsPerSecond),
  };
}

/** Seconds per activity of the largest fan-out against the 10,000 one (or the smallest above 1,000). */
function perActivityGrowth(scale: RunResults['results']['scale']): { growth: number; small: number; large: number } | undefined {
  if (!scale || scale.length < 2) return undefined;
  const sorted = [...scale].sort((a, b) => a.activities - b.activities);
  const large = sorted[sorted.length - 1]!;
  const small = sorted.find((f) => f.activities === 10_000 && f !== large) ?? sorted[sorted.length - 2]!;
  return { growth: large.seconds / large.activities / (small.seconds / small.activities), small: small.activities, large: large.activities };
}

const n = (v: number | undefined, unit = ''): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${formatValue(v)}${unit}`);
const x = (v: number | undefined): string => (v === undefined ? 'n/a' : `${formatValue(v)}×`);

function status(ok: boolean | undefined): string {
  if (ok === undefined) return 'not measured';
  return ok ? 'met' : '**MISSED**';
}

function check(value: number | undefined, test: (v: number) => boolean): boolean | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : test(value);
}

export function resultsFileName(startedAt: Date, mode: string, partial: boolean): string {
  return `${startedAt.toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z')}-${mode}${partial ? '-partial' : ''}`;
}

export function writeResults(dir: string, run: RunResults): { json: string; svg: string } {
  const json = path.join(dir, `${run.name}.json`);
  const svg = path.join(dir, `${run.name}.svg`);
  writeFileSync(json, `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(svg, chart(run));
  return { json, svg };
}

export function chart(run: RunResults): string {
  const r = run.results;
  const dbosFan = r.dbos && !('error' in r.dbos.fanOut) ? r.dbos.fanOut : undefined;
  const latency: Panel = {
    title: 'Latency (ms), lower is better',
    unit: 'ms',
    series: [
      { name: 'p50', color: '#4e79a7' },
      { name: 'p99', color: '#f28e2b' },
    ],
    groups: [
      { label: 'HelloSequence start→Completed (HTTP)', values: [r.steps?.clientMs.p50, r.steps?.clientMs.p99] },
      { label: 'HelloSequence, server side', values: [r.steps?.serverMs.p50, r.steps?.serverMs.p99] },
      { label: 'DBOS 3-step start→result', values: [r.dbos?.steps.clientMs.p50, r.dbos?.steps.clientMs.p99] },
      { label: 'pg-boss send→handler', values: [r.boss?.sendToHandlerMs.p50, r.boss?.sendToHandlerMs.p99] },
      { label: 'HTTP start under load', values: [r.starts?.latencyMs.p50, r.starts?.latencyMs.p99] },
      { label: 'HTTP status read under load', values: [r.status?.latencyMs.p50, r.status?.latencyMs.p99] },
      { label: `Singleton storm (${r.singleton?.concurrentStarts ?? '?'} starts)`, values: [r.singleton?.latencyMs.p50, r.singleton?.latencyMs.p99] },
      { label: 'DBOS deduplicated-start storm', values: [r.dbos?.dedup?.latencyMs.p50, r.dbos?.dedup?.latencyMs.p99] },
    ],
  };
  const throughput: Panel = {
    title: 'Throughput (per second), higher is better',
    unit: '/s',
    series: [
      { name: 'pg-taskhub', color: '#59a14f' },
      { name: 'same-run baseline / peer', color: '#9c755f' },
    ],
    groups: [
      { label: 'HTTP starts | PG commits (32 conn.)', values: [r.starts?.okPerSecond, r.pg?.c32.commitsPerSecond] },
      { label: 'HTTP status reads | bare Fastify + pg', values: [r.status?.okPerSecond, r.pointread?.okPerSecond] },
      { label: 'Fan-out activities | raw pg-boss drain', values: [r.fanout?.activitiesPerSecond, r.boss?.drainJobsPerSecond] },
      { label: 'Fan-out items | DBOS queue items', values: [r.fanout?.activitiesPerSecond, dbosFan?.itemsPerSecond] },
      { label: 'PG commits, 1 connection', values: [null, r.pg?.c1.commitsPerSecond] },
    ],
  };
  return renderChart(`pg-taskhub benchmarks, ${run.mode} run ${run.name}`, [latency, throughput]);
}

/** BENCHMARKS.md from a results file (its path relative to the repository root is cited). */
export function renderMarkdown(run: RunResults, resultsRel: string, chartRel: string): string {
  const r = run.results;
  const q = ratios(r);
  const m = run.machine;
  const p = run.settings.plan;
  const dbosFan = r.dbos && !('error' in r.dbos.fanOut) ? r.dbos.fanOut : undefined;
  const rows: string[][] = [];
  const row = (...cells: string[]): void => void rows.push(cells);

  row('1', 'Postgres single-row INSERT commits/s, 1 connection', n(r.pg?.c1.commitsPerSecond), '—', '—', 'baseline');
  row('1', 'Postgres single-row INSERT commits/s, 32 connections', n(r.pg?.c32.commitsPerSecond), '—', '—', 'baseline');
  row('2', `pg-boss raw jobs/s: insert ${r.boss?.jobs ?? p.bossJobs} no-op jobs + work them (engine settings)`, n(r.boss?.jobsPerSecond), `insert alone ${n(r.boss?.insertJobsPerSecond)}/s; drain after insert ${n(r.boss?.drainJobsPerSecond)}/s`, '—', 'baseline');
  row('2', 'pg-boss send → handler, p50 / p99 (ms)', `${n(r.boss?.sendToHandlerMs.p50)} / ${n(r.boss?.sendToHandlerMs.p99)}`, '—', '—', 'baseline');
  const pr = r.pointread;
  row('4b', `Bare Fastify + pg point read (one row by primary key, pool ${pr?.poolMax ?? 'n/a'}, ${p.statusConnections} connections, ${p.statusSeconds} s), reads/s`, n(pr?.okPerSecond), pr ? `p50 ${n(pr.latencyMs.p50)} / p99 ${n(pr.latencyMs.p99)} ms` : '—', '—', 'baseline');
  row('3', `HTTP starts/s (BenchNoop, ${p.startsConnections} connections, ${p.startsSeconds} s)`, n(r.starts?.okPerSecond), `${x(q.startsVsPg32)} of (1) at 32 connections`, `≥ ${TARGETS.startsVsPg32}× of (1)`, status(check(q.startsVsPg32, (v) => v >= TARGETS.startsVsPg32)));
  row('3', 'HTTP start latency under that load, p50 / p99 (ms)', `${n(r.starts?.latencyMs.p50)} / ${n(r.starts?.latencyMs.p99)}`, r.starts ? `non-2xx: ${JSON.stringify(nonOk(r.starts.statusCodes))}, errors ${r.starts.errors}` : '—', '—', 'info');
  row('3', 'Started instances completed/s (load + turn backlog drain)', n(r.starts?.completedPerSecond), r.starts ? `backlog drained ${n(r.starts.backlogDrainSeconds, ' s')} after the load; ${r.starts.completedInstances} completed` : '—', '—', 'info');
  row('4', `HTTP status reads/s (GET instances/{id}, ${p.statusConnections} connections, ${p.statusSeconds} s)`, n(r.status?.okPerSecond), `${x(q.statusVsPointRead)} of (4b) bare Fastify + pg`, `≥ ${TARGETS.statusVsPointRead}× of (4b)`, status(check(q.statusVsPointRead, (v) => v >= TARGETS.statusVsPointRead)));
  row('4', 'Status read latency, p50 / p99 (ms)', `${n(r.status?.latencyMs.p50)} / ${n(r.status?.latencyMs.p99)}`, '—', '—', 'info');
  const s = r.singleton;
  row(
    '5',
    `Singleton contention: ${s?.concurrentStarts ?? p.singletonConcurrent} concurrent starts × ${s?.rounds ?? p.singletonRounds} round(s) over HTTP, p50 / p99 (ms)`,
    `${n(s?.latencyMs.p50)} / ${n(s?.latencyMs.p99)}`,
    s ? `p99 ${x(q.singletonVsDbosDedupP99)} of DBOS's deduplicated start (8); 202 per round: ${s.winnersPerRound.join(', ')}; answers ${JSON.stringify(s.statusCodes)}; active after: ${s.activeAfterRound.join(', ')}` : '—',
    `p99 ≤ ${TARGETS.singletonVsDbosDedupP99}× of DBOS's, exactly one 202`,
    status(s && q.singletonVsDbosDedupP99 !== undefined ? q.singletonVsDbosDedupP99 <= TARGETS.singletonVsDbosDedupP99 && s.exactlyOneWinner : undefined),
  );
  row('6', `HelloSequence start → Completed over HTTP, p50 / p99 (ms; ${r.steps?.runs ?? p.stepRuns} sequential runs, polled every ${p.stepPollMs} ms)`, `${n(r.steps?.clientMs.p50)} / ${n(r.steps?.clientMs.p99)}`, `${x(q.helloVsDbosP50)} / ${x(q.helloVsDbosP99)} of DBOS 3-step`, '—', 'info');
  const w = r.steps?.waitMode;
  if (w) {
    row('6', `HelloSequence start → Completed in one HTTP request, Durable Functions wait mode (POST …/HelloSequence/{id}?timeout=30&pollingInterval=1, answered 200 with the output), p50 / p99 (ms; ${w.runs} sequential runs)`, `${n(w.clientMs.p50)} / ${n(w.clientMs.p99)}`, `${x(q.helloWaitVsDbosP50)} / ${x(q.helloWaitVsDbosP99)} of DBOS 3-step; server side p50 ${n(w.serverMs.p50)} ms`, '—', 'info');
  }
  // Like with like: DBOS's handle.getResult() waits for the result, as a Durable Functions client's
  // wait for completion does (wait mode); a client polling every 2 ms is the row above, and beside.
  const helloTarget = w ? q.helloWaitVsDbosP50 : q.helloVsDbosP50;
  row('6', `HelloSequence p50 over HTTP vs DBOS 3-step p50 (same run${w ? '; wait mode, as DBOS waits on getResult()' : '; polled'})`, x(helloTarget), `${w ? `polled every ${p.stepPollMs} ms: ${x(q.helloVsDbosP50)}; ` : ''}server side ${x(q.helloServerVsDbosP50)} (next row)`, `≤ ${TARGETS.helloVsDbos}×`, status(check(helloTarget, (v) => v <= TARGETS.helloVsDbos)));
  row('6', 'HelloSequence server side (completed_at − created_at), p50 / p99 (ms)', `${n(r.steps?.serverMs.p50)} / ${n(r.steps?.serverMs.p99)}`, `${x(q.helloServerVsDbosP50)} of DBOS 3-step p50`, '—', 'info');
  const f = r.fanout;
  row('7', `FanOutFanIn ${f?.activities ?? p.fanOut} activities: start → Completed (s)`, n(f?.seconds), f ? `server side ${n(f.serverSeconds, ' s')}; ${f.turns} turns, ${f.historyEvents} history events; output ${f.outputCorrect ? 'correct' : 'WRONG'}` : '—', '—', 'info');
  row('7', 'Fan-out activities/s vs raw pg-boss drain/s (2)', n(f?.activitiesPerSecond), `${x(q.fanOutVsBossDrain)} of the drain; ${x(q.fanOutVsBoss)} of insert + work`, `≥ ${TARGETS.fanOutVsBossDrain}× of the drain`, status(check(q.fanOutVsBossDrain, (v) => v >= TARGETS.fanOutVsBossDrain)));
  row('7m', 'Server peak RSS during the 10,000 fan-out (VmHWM, MiB) vs the DBOS process at 10,000 (8)', n(f?.peakRssMiB), f ? `${x(q.rssVsDbos)} of DBOS's ${n(dbosFan?.peakRssMiB)} MiB${dbosFan && dbosFan.items !== f.activities ? ` (DBOS ran ${dbosFan.items})` : ''}; RSS before: ${n(f.rssBeforeMiB)} MiB, after: ${n(f.rssAfterMiB)} MiB; peak reset before the run: ${f.peakResetBeforeRun}` : '—', "≤ DBOS's", status(check(q.rssVsDbos, (v) => v <= 1)));
  for (const sf of [...(r.scale ?? [])].sort((a, b) => a.activities - b.activities)) {
    row('7s', `${sf.orchestration} ${sf.activities.toLocaleString('en-US')} activities (fresh server; limits ${Object.entries(sf.env).map(([k, v]) => `${k}=${v}`).join(', ')}): s; activities/s; µs per activity; peak RSS MiB`, `${n(sf.seconds)} s; ${n(sf.activitiesPerSecond)}/s; ${n(round((sf.seconds * 1e6) / sf.activities, 0))} µs; ${n(sf.peakRssMiB)} MiB`, `${sf.turns} turns, output ${sf.outputCorrect ? 'correct' : 'WRONG'}`, '—', 'info');
  }
  const growth = perActivityGrowth(r.scale);
  row('7s', 'Linear time: time per activity of the largest fan-out / of 10,000', x(q.scaleLinearity), growth ? `${growth.large.toLocaleString('en-US')} vs ${growth.small.toLocaleString('en-US')}` : '—', `≤ ${TARGETS.scaleLinearity}×`, status(check(q.scaleLinearity, (v) => v <= TARGETS.scaleLinearity)));
  row('8', `DBOS 3-step workflow start → result, p50 / p99 (ms; ${r.dbos?.steps.runs ?? p.dbosRuns} sequential runs, in-process)`, `${n(r.dbos?.steps.clientMs.p50)} / ${n(r.dbos?.steps.clientMs.p99)}`, r.dbos ? `server side ${n(r.dbos.steps.serverMs.p50)} / ${n(r.dbos.steps.serverMs.p99)} ms` : '—', '—', 'peer');
  const dd = r.dbos?.dedup;
  row('8', `DBOS deduplicated start: ${dd?.concurrent ?? p.singletonConcurrent} concurrent DBOS.startWorkflow with one deduplicationID × ${dd?.rounds ?? p.singletonRounds} round(s), in-process, p50 / p99 (ms)`, `${n(dd?.latencyMs.p50)} / ${n(dd?.latencyMs.p99)}`, dd ? `started per round: ${dd.startedPerRound.join(', ')}; ${dd.duplicatesRejected} refused as duplicates, ${dd.otherErrors} other errors` : '—', '—', 'peer');
  row(
    '8',
    `DBOS fan-out: ${r.dbos?.fanOut.items ?? p.dbosFanOut} child workflows on a WorkflowQueue (s; items/s; peak RSS)`,
    dbosFan ? `${n(dbosFan.seconds)} s; ${n(dbosFan.itemsPerSecond)}/s; ${n(dbosFan.peakRssMiB)} MiB` : r.dbos && 'error' in r.dbos.fanOut ? `failed: ${r.dbos.fanOut.error}` : 'n/a',
    `pg-taskhub/DBOS items/s: ${x(q.fanOutVsDbos)}${dbosFan && f && dbosFan.items !== f.activities ? ` (DBOS ran ${dbosFan.items}, pg-taskhub ${f.activities})` : ''}`,
    '—',
    'peer',
  );
  const sp = r.split;
  if (sp) {
    const label = `1 API + ${sp.workers} worker processes, one database`;
    row('11', `${label}: HelloSequence p50 over HTTP (ms; ${sp.steps.runs} runs)`, `${n(sp.steps.clientMs.p50)} (server ${n(sp.steps.serverMs.p50)})`, `${x(q.splitHelloVsDbosP50)} of DBOS 3-step p50`, `≤ ${TARGETS.helloVsDbos}×`, status(check(q.splitHelloVsDbosP50, (v) => v <= TARGETS.helloVsDbos)));
    row('11', `${label}: HTTP starts/s (BenchNoop, ${sp.starts.connections} connections)`, n(sp.starts.okPerSecond), `${x(q.splitStartsVsPg32)} of (1); completed ${n(sp.starts.completedPerSecond)}/s`, `≥ ${TARGETS.startsVsPg32}× of (1)`, status(check(q.splitStartsVsPg32, (v) => v >= TARGETS.startsVsPg32)));
    row('11', `${label}: fan-out ${sp.fanout.activities} activities/s`, n(sp.fanout.activitiesPerSecond), `${x(q.splitFanOutVsBossDrain)} of the pg-boss drain (2); ${n(sp.fanout.seconds)} s`, `≥ ${TARGETS.fanOutVsBossDrain}× of the drain`, status(check(q.splitFanOutVsBossDrain, (v) => v >= TARGETS.fanOutVsBossDrain)));
  }

  const tc = r.telemetry;
  for (const [what, m] of [['HTTP starts/s', tc?.starts], ['Fan-out activities/s', tc?.fanout]] as const) {
    row(
      '9',
      `${what} with metrics + tracing on vs off (median of ${tc ? tc.order.length / 2 : 'n/a'} each, alternating)`,
      m ? `on ${n(m.on.median)} / off ${n(m.off.median)}: ${m.deltaPercent > 0 ? '+' : ''}${n(m.deltaPercent)} %` : 'n/a',
      tc && m
        ? `on: ${m.on.perSecond.join(', ')}; off: ${m.off.perSecond.join(', ')}; CPU µs/op (server + PostgreSQL) on ${n(m.on.cpuMedian)} / off ${n(m.off.cpuMedian)} (${m.cpuDeltaPercent > 0 ? '+' : ''}${n(m.cpuDeltaPercent)} %); ${tc.otlp.requests} OTLP exports (${n(round(tc.otlp.bytes / 1024, 0))} KiB), ${tc.scrapes} scrapes`
        : '—',
      `within ${TARGETS.telemetryCostPercent} %`,
      status(check(m?.deltaPercent, (v) => Math.abs(v) <= TARGETS.telemetryCostPercent)),
    );
  }

  if (tc?.hooks) {
    row(
      '9',
      'Instrumentation hooks alone, CPU µs per call (metrics + spans exported over OTLP): start / turn / activity attempt',
      `${n(tc.hooks.startUs)} / ${n(tc.hooks.turnUs)} / ${n(tc.hooks.activityUs)}`,
      `against CPU µs/op with telemetry off: a start (start + its turn) ${n(tc.starts.off.cpuMedian)}, a fan-out activity ${n(tc.fanout.off.cpuMedian)}`,
      '—',
      'info',
    );
  }

  const bh = r.bulkhead;
  row(
    '10',
    `HelloSequence p50 under ${bh?.readFlood.readers ?? p.bulkheadReaders} clients reading a ${bh?.readFlood.historyEvents ?? '~6,000'}-event history (showHistory + showHistoryOutput), vs idle p50`,
    bh ? x(bh.readFlood.p50Ratio) : 'n/a',
    bh ? `idle p50 ${n(bh.readFlood.idleMs.p50)} ms, under the flood ${n(bh.readFlood.floodMs.p50)} ms (p99 ${n(bh.readFlood.floodMs.p99)}); ${n(bh.readFlood.readsPerSecond)} history reads/s served, ${bh.readFlood.readErrors} errors` : '—',
    `≤ ${TARGETS.readFloodRatio}×`,
    status(check(bh?.readFlood.p50Ratio, (v) => v <= TARGETS.readFloodRatio)),
  );
  row(
    '10',
    `Fan-out activities/s with ${bh?.hungSlots.hung ?? '¼'} of ${bh?.hungSlots.slots ?? ''} activity slots hung, vs normal`,
    bh ? x(bh.hungSlots.ratio) : 'n/a',
    bh ? `${n(bh.hungSlots.hungPerSecond)}/s hung vs ${n(bh.hungSlots.normalPerSecond)}/s normal (mean of ${(bh.hungSlots.normalRuns ?? []).map((v) => n(v)).join(' before and ')} after; ${bh.hungSlots.activities} activities each)` : '—',
    `≥ ${TARGETS.hungSlotsRatio}×`,
    status(check(bh?.hungSlots.ratio, (v) => v >= TARGETS.hungSlotsRatio)),
  );
  row(
    '10',
    `Worst event-loop delay during a ${bh?.eventLoop.activities ?? p.fanOut}-activity fan-out (worst /healthz answer, ms)`,
    n(bh?.eventLoop.worstHealthzMs),
    bh ? `${bh.eventLoop.probes} probes every 10 ms: p50 ${n(bh.eventLoop.healthzMs.p50)}, p99 ${n(bh.eventLoop.healthzMs.p99)} ms; idle p50 ${n(bh.eventLoop.idleHealthzMs.p50)} ms` : '—',
    `< ${TARGETS.fanOutLoopDelayMs} ms`,
    status(check(bh?.eventLoop.worstHealthzMs, (v) => v < TARGETS.fanOutLoopDelayMs)),
  );

  const cc = r.concurrency;
  const baseline = cc?.storms[0];
  for (const st of cc?.storms.slice(1) ?? []) {
    row(
      '11',
      `Contended start, ${cc?.concurrentStarts} concurrent, onConflict=${st.policy}: p50 / p99 (ms)`,
      `${n(st.latencyMs.p50)} / ${n(st.latencyMs.p99)}`,
      `no limit (same storm): ${n(baseline?.latencyMs.p50)} / ${n(baseline?.latencyMs.p99)}; answers ${JSON.stringify(st.statusCodes)}; after: ${st.holdersAfter} holding a slot, ${st.queuedAfter} queued`,
      '—',
      'info',
    );
  }
  if (cc) {
    row(
      '11',
      `Queue hand-off: holder released → next queued instance Running, p50 / p99 (ms; ${cc.handOff.samples} releases)`,
      `${n(cc.handOff.handOffMs.p50)} / ${n(cc.handOff.handOffMs.p99)}`,
      `the released holder's own end (same releases): ${n(cc.handOff.baselineMs.p50)} / ${n(cc.handOff.baselineMs.p99)}`,
      '—',
      'info',
    );
  }

  const table = [
    '| # | Measure | Figure | Same-run baseline / ratio | Target | Status |',
    '|---|---|---|---|---|---|',
    ...rows.map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`),
  ].join('\n');

  const cpuRows: Array<[string, Partial<CpuPerOp> | undefined]> = [
    ['(3) a started BenchNoop instance: HTTP start + its turn', r.starts?.cpu],
    ['(4) a status read', r.status?.cpu],
    ['(4b) a bare Fastify + pg point read ("server" = the baseline process)', r.pointread?.cpu],
    ['(5) a contended singleton start (409)', r.singleton?.cpu],
    ['(6) a HelloSequence run (3 activities, 4 turns, status polling)', r.steps?.cpu],
    ['(7) a fan-out activity (share of the 10,000-activity FanOutFanIn)', r.fanout?.cpu],
    ['(2) a raw pg-boss job (insert + fetch + complete; "server" = the pg-boss client process)', r.boss?.cpu],
    ['(8) DBOS: a 3-step workflow run ("server" = the DBOS process)', r.dbos?.steps.cpu],
    ['(8) DBOS: a fan-out child workflow', dbosFan?.cpu],
    ['(8) DBOS: a deduplicated start in the storm', r.dbos?.dedup?.cpu],
    ...(r.split
      ? ([
          [`(11) split (1 API + ${r.split.workers} workers): a started BenchNoop instance ("server" = all ${r.split.workers + 1} processes)`, r.split.starts.cpu],
          ['(11) split: a fan-out activity', r.split.fanout.cpu],
        ] as Array<[string, Partial<CpuPerOp> | undefined]>)
      : []),
  ];
  const cpuTable = [
    '| Operation | server µs/op | PostgreSQL µs/op | server cores busy | PostgreSQL cores busy | new PostgreSQL connections in the phase |',
    '|---|---|---|---|---|---|',
    ...cpuRows.map(([label, c]) => `| ${label} | ${n(c?.serverUsPerOp)} | ${n(c?.postgresUsPerOp)} | ${n(c?.serverCores)} | ${n(c?.postgresCores)} | ${c?.newSessions ?? 'n/a'} |`),
  ].join('\n');
  const b = r.steps?.breakdown;
  const legs: Array<[string, { p50: number; p99: number } | undefined]> = [
    ['start committed (created_at) → first turn starts', b?.startToFirstTurn],
    ['turn starts → the activity it scheduled has run (turn + commit + pg-boss delivery + activity)', b?.turnToActivityDone],
    ['activity has run → the turn consuming its result starts (record result + wake + claim)', b?.activityDoneToNextTurn],
  ];
  const legTable = [
    '| Leg (per step; from history event times, ms precision) | p50 ms | p99 ms |',
    '|---|---|---|',
    ...legs.map(([label, v]) => `| ${label} | ${n(v?.p50)} | ${n(v?.p99)} |`),
  ].join('\n');

  const errors = Object.entries(run.errors);
  const limits = explainLimits(run);
  const missed = rows
    .filter((c) => c[5] === '**MISSED**')
    .map((c) => `- (${c[0]}) ${c[1]}: ${c[2]} (target ${c[4]})${limits[c[0] as string] ? `\n  - What limits it: ${limits[c[0] as string]}` : ''}`);
  return `# Benchmarks

Generated by \`npm run bench\` from [\`${resultsRel}\`](${resultsRel}) (a ${run.mode} run, ${run.startedAt}); every figure below is
in that file. Do not edit by hand: re-run the harness, or regenerate from a results file with
\`npm run bench -- --report=${resultsRel}\`.

${heavyLoadNote(run)}## Machine and versions
| | |
|---|---|
| CPU | ${m.cpus} × ${m.cpuModel} |
| Memory | ${m.memoryGiB} GiB |
| OS | ${m.os} |
| Node | ${m.node} |
| PostgreSQL | ${m.postgres} (${m.database}) |
| PostgreSQL settings | ${Object.entries(m.postgresSettings).map(([k, v]) => `${k}=${v}`).join(', ')} |
| Packages | ${Object.entries(m.packages).map(([k, v]) => `${k} ${v}`).join(', ')} |
| Commit | ${m.git} |
| Load average (1 min) at start / end | ${m.loadAverage ? `${m.loadAverage.start} / ${m.loadAverage.end}${Math.max(m.loadAverage.start, m.loadAverage.end) > m.cpus ? ` — above the ${m.cpus} cores: other processes were running, and every absolute figure is lower than on an idle machine` : ''}` : 'not recorded'} |

The server, the load generator, the DBOS peer and PostgreSQL share these cores, so absolute figures are
noisy; the ratios against baselines measured in the same run are the point.

## Settings
- Server: the real process (\`node src/cli.ts\`) on a fresh database, env ${Object.entries(run.settings.server.env).map(([k, v]) => `\`${k}=${v}\``).join(', ')}${
    Object.keys(run.settings.server.tunedByCaller).length ? `; tuned by the caller: ${Object.entries(run.settings.server.tunedByCaller).map(([k, v]) => `\`${k}=${v}\``).join(', ')}` : '; no engine tuning (defaults)'
  }. A second fresh server and database run the fan-out.
- Engine configuration in effect: \`${JSON.stringify(run.settings.server.effective)}\`.
- pg-boss baseline worker (the engine's settings): \`${JSON.stringify(run.settings.boss)}\`.
- Plan: \`${JSON.stringify(p)}\`.
- DBOS peer: ${r.dbos ? `@dbos-inc/dbos-sdk ${r.dbos.version}, \`${JSON.stringify(r.dbos.settings)}\`, in a child process on its own database of the same server` : 'not run'}.
  It is called in-process (no HTTP hop), pg-taskhub over HTTP with polling; the comparison includes that difference.

## Results
${table}

### Where the cost is
CPU time per operation, of the server process and of the PostgreSQL backends of its database (/proc, user +
system), measured over the same phases. It is much less sensitive to other load on the machine than the
throughput figures. PostgreSQL CPU counts the backends alive at the end of a phase: a backend that connected and
ended within it is missed, which is what the last column is for (a pool that keeps its connections opens next to
none; hundreds mean connections are being thrown away and opened again). The load generator (autocannon, in the harness process) kept ${n(r.starts?.loadGeneratorCores)} core(s)
busy during the start load and ${n(r.status?.loadGeneratorCores)} during the status load, on the same ${m.cpus} cores.

${cpuTable}

HelloSequence, where a run's time goes (p50 / p99 over every step of the measured runs; pg-boss alone delivers a
job in ${n(r.boss?.sendToHandlerMs.p50)} ms p50 in this run):

${legTable}

${missed.length ? `### Targets missed in this run\n${missed.join('\n')}\n` : 'All targets were met in this run.\n'}${errors.length ? `\n### Benchmarks that failed in this run\n${errors.map(([k, v]) => `- ${k}: ${v.split('\n')[0]}`).join('\n')}\n` : ''}
## Chart
![latency and throughput](${chartRel})

## How to reproduce
\`\`\`sh
npm ci
npm run bench -- --quick            # CI-sized (< 2 minutes): prints the results; embedded PostgreSQL in .bench-pg, or DATABASE_URL
npm run bench                       # full run (more runs, longer loads, 10,000-item DBOS fan-out)
npm run bench -- --write            # a full run recorded: bench/results/<date>-full.json, its chart, and this page
npm run bench -- --only=steps,dbos  # a subset: ${BENCH_NAMES.join(', ')}
DATABASE_URL=postgres://user@127.0.0.1:5432/postgres npm run bench -- --quick   # your server (databases bench_* are created and dropped)
TASKHUB_ACTIVITY_BATCH_SIZE=200 npm run bench -- --quick   # TASKHUB_* variables pass through to the server (reported above)
\`\`\`
Every run prints the results table; its results file and chart go to a temp folder (the path is printed).
Only \`--write\` on a full run records them under \`bench/results/\` and rewrites this page from that file;
\`npm run bench -- --report=bench/results/<file>.json\` rewrites it from a recorded file.
`;
}

/** A warning at the top when the run shared the machine with much other work (load average above twice the cores). */
function heavyLoadNote(run: RunResults): string {
  const l = run.machine.loadAverage;
  if (!l || Math.max(l.start, l.end) <= 2 * run.machine.cpus) return '';
  return (
    `**This run was made under heavy machine load**: a load average of ${l.start} at the start and ${l.end} at the end on ` +
    `${run.machine.cpus} cores (other builds and test suites were running beside it). Absolute figures are several times ` +
    'worse than on a quiet machine, and noisy; only the ratios to baselines measured in the same run mean something.\n\n'
  );
}

/** CPU µs one operation costs the machine (server process + PostgreSQL backends), if measured. */
function costUs(cpu: CpuPerOp | undefined): number | undefined {
  if (cpu?.serverUsPerOp === undefined || cpu.postgresUsPerOp === undefined) return undefined;
  return cpu.serverUsPerOp + cpu.postgresUsPerOp;
}

/**
 * Commits on the path of one HelloSequence run (3 activities, 4 turns), by design: the start's INSERT;
 * the first turn's claim (committed on its own so a crash counts an attempt; the later turns are
 * claimed in the transaction that records the result before them); the 4 turns; per activity
 * pg-boss's fetch (the job made active) and the result recorded with the job completed. DBOS commits
 * the workflow's start, each step's output and the end: five.
 */
/**
 * Commits in sequence on a HelloSequence run: the start (which claims its first turn), 4 turns (each
 * claims the activity it schedules), and per activity its result (which claims the next turn).
 */
export const HELLO_COMMITS = { start: 1, claims: 0, turns: 4, perActivity: 1, activities: 3, dbos: 5 };

/**
 * For each missed measure, the floor it meets, computed from figures of the same run: the CPU an
 * operation costs against the cores the machine has (or against its baseline's CPU), and the commits
 * on a path against the measured commit latency.
 */
export function explainLimits(run: RunResults): Record<string, string> {
  const r = run.results;
  const cores = run.machine.cpus;
  const out: Record<string, string> = {};
  const ceiling = (us: number | undefined): string => (us === undefined ? 'n/a' : formatValue((cores * 1e6) / us));
  const startCost = costUs(r.starts?.cpu);
  const pg32 = r.pg?.c32.commitsPerSecond;
  if (startCost !== undefined) {
    const best = (cores * 1e6) / startCost;
    out['3'] =
      `CPU. A started instance (the HTTP start and its turn) costs ${n(r.starts?.cpu?.serverUsPerOp)} µs of server and ` +
      `${n(r.starts?.cpu?.postgresUsPerOp)} µs of PostgreSQL CPU, ${n(startCost)} µs in all: ${cores} cores can complete at most ` +
      `${ceiling(startCost)} of them per second${pg32 ? `, ${x(best / pg32)} of (1)` : ''}, against a single-row INSERT that is one commit; ` +
      `a start is two (the INSERT, which claims the turn when this process has a free turn slot, and the turn). Starts are accepted faster than turns drain them (the completed/s row), so sustained starts share the cores with turns.`;
  }
  const readCost = costUs(r.status?.cpu);
  const pointCost = costUs(r.pointread?.cpu);
  if (readCost !== undefined) {
    out['4'] =
      `CPU. A status read costs ${n(r.status?.cpu?.serverUsPerOp)} µs of server and ${n(r.status?.cpu?.postgresUsPerOp)} µs of ` +
      `PostgreSQL CPU (${n(readCost)} µs)${pointCost !== undefined ? ` against ${n(pointCost)} µs for the bare point read (${n(r.pointread?.cpu?.serverUsPerOp)} + ${n(r.pointread?.cpu?.postgresUsPerOp)}): at equal cores the ratio cannot pass ${x(pointCost / readCost)}` : ''}; ` +
      `the difference is the route's work (auth hook, TypeBox validation, the instance row's wider read, the Durable Functions payload).`;
  }
  const conflictCost = costUs(r.singleton?.cpu);
  if (conflictCost !== undefined && r.singleton) {
    const floorMs = (r.singleton.concurrentStarts * conflictCost) / cores / 1000;
    out['5'] =
      `CPU and queueing. Each contended start costs ${n(conflictCost)} µs (HTTP, the holder read, the 409), so ` +
      `${r.singleton.concurrentStarts} simultaneous starts need at least ${formatValue(floorMs)} ms of the ${cores} cores: the last ` +
      `answer cannot come sooner than that${r.dbos?.dedup ? ` (${x(floorMs / r.dbos.dedup.latencyMs.p99)} of DBOS's p99, which has no HTTP to serve)` : ''}` +
      `${(r.singleton.cpu?.newSessions ?? 0) > 10 ? `; ${r.singleton.cpu?.newSessions} new connections were opened in the phase` : ''}.`;
  }
  const legs = r.steps?.breakdown;
  const c1 = r.pg?.c1.commitsPerSecond;
  if (r.dbos && c1) {
    const h = HELLO_COMMITS;
    const commits = h.start + h.claims + h.turns + h.activities * h.perActivity;
    const commitMs = 1000 / c1;
    out['6'] =
      `Commits per run. A HelloSequence run commits ${commits} times in sequence (the start, which claims its first turn; ${h.turns} turns, each ` +
      `claiming the activity it schedules; ${h.activities} activity results, each claiming the next turn), DBOS's three steps ${h.dbos}; at this run's commit latency (${formatValue(commitMs)} ms, ` +
      `from (1) at one connection) that is a floor of ${formatValue(commits * commitMs)} ms against DBOS's ${formatValue(h.dbos * commitMs)} ms: ` +
      `${x(commits / h.dbos)} before HTTP and polling. ` +
      (legs ? `Measured legs per step: turn → activity done ${n(legs.turnToActivityDone.p50)} ms p50 (pg-boss's own send → handler ${n(r.boss?.sendToHandlerMs.p50)} ms), activity done → next turn ${n(legs.activityDoneToNextTurn.p50)} ms p50.` : '');
  }
  const activityCost = costUs(r.fanout?.cpu);
  const jobCost = costUs(r.boss?.cpu);
  if (activityCost !== undefined && jobCost !== undefined) {
    out['7'] =
      `CPU per activity. An activity costs ${n(activityCost)} µs (its job, recording the result, its share of the turns and of the ` +
      `history) against ${n(jobCost)} µs for a raw pg-boss job (insert, fetch, complete), so on the same cores the engine can reach at most ` +
      `${x(jobCost / activityCost)} of the raw job rate.`;
  }
  const sp = r.split;
  if (sp) {
    const spStart = costUs(sp.starts.cpu);
    const spAct = costUs(sp.fanout.cpu);
    const oneStart = costUs(r.starts?.cpu);
    const oneAct = costUs(r.fanout?.cpu);
    out['11'] =
      `CPU: ${sp.workers + 1} processes and PostgreSQL on ${cores} cores. Split, a started instance costs ${n(spStart)} µs of CPU in all ` +
      `(${oneStart !== undefined ? `${n(oneStart)} µs in one process` : 'n/a in one process'}), a fan-out activity ${n(spAct)} µs (${oneAct !== undefined ? `${n(oneAct)} µs in one process` : 'n/a'}): ` +
      `the work crosses processes (a start in the API process is claimed and run by a worker, its wake-up a NOTIFY instead of a call, ` +
      `no turn or activity handed over in process), so on the same cores the split run does less per second. The ceilings at that cost: ` +
      `${ceiling(spStart)} starts/s${pg32 && spStart ? ` (${x((cores * 1e6) / spStart / pg32)} of (1))` : ''}, ${ceiling(spAct)} activities/s. ` +
      `Splitting pays when each process has cores of its own.`;
  }
  const fan = r.fanout;
  const dbosFanOut = r.dbos && !('error' in r.dbos.fanOut) ? r.dbos.fanOut : undefined;
  if (fan && dbosFanOut) {
    const held = fan.rssBeforeMiB;
    out['7m'] =
      `What the process holds before any work.${held !== undefined && Number.isFinite(held) ? ` The server's RSS just before the fan-out was ${n(held)} MiB ` +
      `(Node and its modules, about 85 MiB measured on their own: Fastify and its schemas, pg-boss, OpenTelemetry, prom-client; then the three pools, ` +
      `pg-boss's and the compiled route validators), so the fan-out itself added ${n(fan.peakRssMiB - held)} MiB for ${fan.activities} activities and their ` +
      `${fan.historyEvents} history events; ` : ' '}DBOS's process peaked at ${n(dbosFanOut.peakRssMiB)} MiB for the same count.`;
  }
  return out;
}

function nonOk(codes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(codes).filter(([c]) => !c.startsWith('2')));
}

export function readResults(file: string): RunResults {
  return JSON.parse(readFileSync(file, 'utf8')) as RunResults;
}

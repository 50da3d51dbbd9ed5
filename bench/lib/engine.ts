/**
 * The engine's figures, measured over HTTP against the real server process: starts/s, status reads/s,
 * singleton contention, step latency of HelloSequence, and the 10,000-activity fan-out. Server-side
 * times come from the instances table (completed_at - created_at).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { CpuMeter, type CpuPerOp, perOp } from './cpu.ts';
import { BASE, HttpClient, load, type LoadResult } from './http.ts';
import type { BenchServer } from './server.ts';
import { round, since, sleep, summarize, type LatencySummary } from './stats.ts';

const ACTIVE = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'];

/** The server under test, a connection to its database (server-side timings, checks), and whether PostgreSQL is local. */
export interface Target {
  server: BenchServer;
  /** Worker processes beside the server (a split deployment): their CPU counts as the server's. */
  workers?: readonly BenchServer[];
  db: pg.Client;
  localPostgres: boolean;
}

export async function connectTarget(server: BenchServer, schema: string, localPostgres: boolean): Promise<Target> {
  const db = new pg.Client({ connectionString: server.databaseUrl, application_name: 'pg-taskhub-bench', options: `-c search_path=${schema}` });
  await db.connect();
  return { server, db, localPostgres };
}

function meter(t: Target): CpuMeter {
  return new CpuMeter([t.server.pid, ...(t.workers ?? []).map((w) => w.pid)], t.db, t.localPostgres);
}

async function serverSideMs(db: pg.Client, ids: readonly string[]): Promise<number[]> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT (extract(epoch FROM completed_at - created_at) * 1000)::float8 AS ms FROM instances WHERE instance_id = ANY($1) AND completed_at IS NOT NULL`,
    [ids],
  );
  return rows.map((r) => r.ms);
}

// ---------------------------------------------------------------------------------------------
export interface StepLatencyResult {
  orchestration: 'HelloSequence';
  activities: 3;
  runs: number;
  warmup: number;
  pollIntervalMs: number;
  /** Client wall time: POST start → the status GET that first answers 200 Completed. */
  clientMs: LatencySummary;
  /** instances.completed_at - created_at. */
  serverMs: LatencySummary;
  /** Where a run's time goes, from history timestamps (p50 / p99 over all steps of all runs, ms). */
  breakdown: StepBreakdown | undefined;
  failures: number;
  /** CPU per HelloSequence run (polling included). */
  cpu: CpuPerOp;
  /**
   * The same runs started in Durable Functions' wait mode: one request, POST
   * /orchestrators/HelloSequence?timeout=30&pollingInterval=1, answered 200 with the output when the
   * instance completes (what DF clients' WaitForCompletionOrCreateCheckStatusResponse does; the
   * server learns of the end in process, not by polling). Absent in results made before it.
   */
  waitMode?: { runs: number; clientMs: LatencySummary; serverMs: LatencySummary; failures: number; cpu: CpuPerOp };
}

export interface StepBreakdown {
  /** instances.created_at → the first turn starts. */
  startToFirstTurn: LatencySummary;
  /** A turn starts → the activity it scheduled has run (turn, commit, pg-boss delivery, activity). */
  turnToActivityDone: LatencySummary;
  /** An activity has run → the turn that consumes its result starts (record result, wake, claim). */
  activityDoneToNextTurn: LatencySummary;
}

/** Splits sequential activity runs into legs from history event times (ms precision). */
async function stepBreakdown(db: pg.Client, ids: readonly string[]): Promise<StepBreakdown | undefined> {
  const { rows } = await db.query<{ instance_id: string; event_type: string; t: number; created: number }>(
    `SELECT h.instance_id, h.event_type, (extract(epoch FROM h.event_time) * 1000)::float8 AS t, (extract(epoch FROM i.created_at) * 1000)::float8 AS created
     FROM history h JOIN instances i USING (instance_id) WHERE h.instance_id = ANY($1) ORDER BY h.instance_id, h.seq`,
    [ids],
  );
  const first: number[] = [];
  const toDone: number[] = [];
  const toNext: number[] = [];
  let current = '';
  let turnStart = Number.NaN;
  let scheduledInTurn = Number.NaN;
  for (const r of rows) {
    if (r.instance_id !== current) {
      current = r.instance_id;
      turnStart = Number.NaN;
      scheduledInTurn = Number.NaN;
    }
    if (r.event_type === 'OrchestratorStarted') {
      if (!Number.isFinite(turnStart)) first.push(r.t - r.created);
      turnStart = r.t;
    } else if (r.event_type === 'TaskScheduled') {
      scheduledInTurn = turnStart;
    } else if (r.event_type === 'TaskCompleted' && Number.isFinite(scheduledInTurn)) {
      toDone.push(r.t - scheduledInTurn);
      toNext.push(turnStart - r.t);
    }
  }
  if (toDone.length === 0) return undefined;
  return { startToFirstTurn: summarize(first), turnToActivityDone: summarize(toDone), activityDoneToNextTurn: summarize(toNext) };
}

/** Timed sequential runs after a warm-up: each run's wall time, its instance, CPU per measured run. */
async function sequentialRuns(t: Target, runs: number, warmup: number, runOne: () => Promise<{ id: string; ok: boolean }>): Promise<{ samples: number[]; ids: string[]; failures: number; cpu: CpuPerOp }> {
  const cpu = meter(t);
  const samples: number[] = [];
  const ids: string[] = [];
  let failures = 0;
  for (let i = 0; i < warmup + runs; i++) {
    if (i === warmup) await cpu.start();
    const start = performance.now();
    const { id, ok } = await runOne();
    const ms = since(start);
    if (!ok) {
      failures++;
      continue;
    }
    if (i >= warmup) {
      samples.push(ms);
      ids.push(id);
    }
  }
  return { samples, ids, failures, cpu: perOp(await cpu.stop(), runs) };
}

export async function stepLatency(t: Target, runs: number, warmup: number, pollIntervalMs: number): Promise<StepLatencyResult> {
  const { server, db } = t;
  const client = new HttpClient(server.url, 4);
  try {
    const polled = await sequentialRuns(t, runs, warmup, async () => {
      const id = await client.start('HelloSequence');
      const end = await client.waitTerminal(id, pollIntervalMs, 30_000);
      return { id, ok: end?.runtimeStatus === 'Completed' };
    });
    const waitMode = await stepLatencyWaitMode(t, client, runs, warmup);
    return {
      waitMode,
      orchestration: 'HelloSequence',
      activities: 3,
      runs,
      warmup,
      pollIntervalMs,
      clientMs: summarize(polled.samples),
      serverMs: summarize(await serverSideMs(db, polled.ids)),
      breakdown: await stepBreakdown(db, polled.ids),
      failures: polled.failures,
      cpu: polled.cpu,
    };
  } finally {
    client.close();
  }
}

const HELLO_OUTPUT = JSON.stringify(['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);

/** HelloSequence runs in wait mode: start → the 200 that carries the output, one request each. */
async function stepLatencyWaitMode(t: Target, client: HttpClient, runs: number, warmup: number): Promise<NonNullable<StepLatencyResult['waitMode']>> {
  const waited = await sequentialRuns(t, runs, warmup, async () => {
    // An id of our own: the 200 of wait mode carries the output only.
    const id = randomUUID().replaceAll('-', '');
    const reply = await client.request('POST', `${BASE}/orchestrators/HelloSequence/${id}?timeout=30&pollingInterval=1`, '');
    return { id, ok: reply.status === 200 && JSON.stringify(JSON.parse(reply.body)) === HELLO_OUTPUT };
  });
  return { runs, clientMs: summarize(waited.samples), serverMs: summarize(await serverSideMs(t.db, waited.ids)), failures: waited.failures, cpu: waited.cpu };
}

// ---------------------------------------------------------------------------------------------
export interface SingletonResult {
  orchestration: 'BenchSingleton';
  rounds: number;
  concurrentStarts: number;
  /** Per request, on connections opened beforehand (keep-alive): request written → response read. */
  latencyMs: LatencySummary;
  statusCodes: Record<string, number>;
  /** 202 answers per round. */
  winnersPerRound: number[];
  /** Active BenchSingleton instances in the database after each round. */
  activeAfterRound: number[];
  exactlyOneWinner: boolean;
  /** CPU per start answered (the storms only). */
  cpu: CpuPerOp;
}

export function timedRequest(agent: http.Agent, origin: string, method: string, path: string, body?: string): Promise<{ status: number; ms: number; body: string }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = http.request(new URL(path, origin), { method, agent, timeout: 30_000, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: since(start), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve({ status: -1, ms: since(start), body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: -1, ms: since(start), body: '' }));
    req.end(body);
  });
}

export async function singletonContention(t: Target, concurrent: number, rounds: number): Promise<SingletonResult> {
  const { server, db } = t;
  const cpu = meter(t);
  let cpuServer = 0;
  let cpuPostgres: number | undefined;
  let cpuWall = 0;
  let cpuSessions: number | undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrent, maxFreeSockets: concurrent, keepAliveMsecs: 60_000 });
  const client = new HttpClient(server.url, 2);
  try {
    const latencies: number[] = [];
    const statusCodes: Record<string, number> = {};
    const winnersPerRound: number[] = [];
    const activeAfterRound: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Open every connection first, so the storm measures the start, not TCP accept backlogs.
      await Promise.all(Array.from({ length: concurrent }, () => timedRequest(agent, server.url, 'GET', '/healthz')));
      await cpu.start();
      const replies = await Promise.all(
        Array.from({ length: concurrent }, () => timedRequest(agent, server.url, 'POST', `${BASE}/orchestrators/BenchSingleton`, '{"bench":true}')),
      );
      const usage = await cpu.stop();
      cpuServer += usage.serverMs ?? Number.NaN;
      if (usage.postgresMs !== undefined) cpuPostgres = (cpuPostgres ?? 0) + usage.postgresMs;
      if (usage.newSessions !== undefined) cpuSessions = (cpuSessions ?? 0) + usage.newSessions;
      cpuWall += usage.wallMs;
      const winners = replies.filter((r) => r.status === 202);
      for (const r of replies) {
        latencies.push(r.ms);
        statusCodes[String(r.status)] = (statusCodes[String(r.status)] ?? 0) + 1;
      }
      winnersPerRound.push(winners.length);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM instances WHERE name = 'BenchSingleton' AND runtime_status = ANY($1)`, [ACTIVE]);
      activeAfterRound.push(rows[0]?.n ?? -1);
      // Free the slot for the next round (and the rest of the run).
      const { rows: active } = await db.query<{ instance_id: string }>(`SELECT instance_id FROM instances WHERE name = 'BenchSingleton' AND runtime_status = ANY($1)`, [ACTIVE]);
      for (const a of active) {
        await client.request('POST', `${BASE}/instances/${a.instance_id}/terminate?reason=bench`);
        await client.waitTerminal(a.instance_id, 10, 10_000);
      }
    }
    return {
      orchestration: 'BenchSingleton',
      rounds,
      concurrentStarts: concurrent,
      latencyMs: summarize(latencies),
      statusCodes,
      winnersPerRound,
      activeAfterRound,
      exactlyOneWinner: winnersPerRound.every((w) => w === 1) && activeAfterRound.every((n) => n === 1) && (statusCodes['409'] ?? 0) === rounds * (concurrent - 1),
      cpu: perOp({ serverMs: cpuServer, postgresMs: cpuPostgres, newSessions: cpuSessions, wallMs: cpuWall }, rounds * concurrent),
    };
  } finally {
    agent.destroy();
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
export interface StartsResult extends LoadResult {
  orchestration: 'BenchNoop';
  /** Time after the load until every started instance had completed (the turn backlog). */
  backlogDrainSeconds: number;
  completedInstances: number;
  /** Started and completed instances per second, load + backlog drain. */
  completedPerSecond: number;
  /** CPU per started and completed instance (the start and its turn), load + backlog drain. */
  cpu: CpuPerOp;
}

export async function starts(t: Target, connections: number, seconds: number): Promise<StartsResult> {
  const { server, db } = t;
  const cpu = meter(t);
  await cpu.start();
  const result = await load({
    url: `${server.url}${BASE}/orchestrators/BenchNoop`,
    method: 'POST',
    body: '{"bench":true}',
    connections,
    durationSeconds: seconds,
    maxRequests: 1_000_000,
  });
  const loadEnd = performance.now();
  const deadline = loadEnd + 180_000;
  let active: number;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM instances WHERE name = 'BenchNoop' AND runtime_status = ANY($1)`, [ACTIVE]);
    active = rows[0]?.n ?? 0;
    if (active === 0 || performance.now() > deadline) break;
    await sleep(50);
  }
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM instances WHERE name = 'BenchNoop' AND runtime_status = 'Completed'`);
  const completed = rows[0]?.n ?? 0;
  const usage = await cpu.stop();
  return {
    orchestration: 'BenchNoop',
    ...result,
    backlogDrainSeconds: active === 0 ? round(since(loadEnd) / 1000, 3) : Number.NaN,
    completedInstances: completed,
    completedPerSecond: round(completed / (usage.wallMs / 1000), 1),
    cpu: perOp(usage, completed),
  };
}

// ---------------------------------------------------------------------------------------------
export interface StatusReadsResult extends LoadResult {
  distinctInstances: number;
  cpu: CpuPerOp;
}

export async function statusReads(t: Target, connections: number, seconds: number): Promise<StatusReadsResult> {
  const { server, db } = t;
  const cpu = meter(t);
  const { rows } = await db.query<{ instance_id: string }>(`SELECT instance_id FROM instances ORDER BY random() LIMIT 1000`);
  if (rows.length === 0) throw new Error('no instances to read');
  const paths = rows.map((r) => `${BASE}/instances/${encodeURIComponent(r.instance_id)}`);
  let i = 0;
  await cpu.start();
  const result = await load({
    url: `${server.url}${paths[0]}`,
    method: 'GET',
    connections,
    durationSeconds: seconds,
    maxRequests: 5_000_000,
    nextPath: () => paths[i++ % paths.length] as string,
  });
  const usage = await cpu.stop();
  return { ...result, distinctInstances: paths.length, cpu: perOp(usage, result.requests) };
}

// ---------------------------------------------------------------------------------------------
export interface FanOutResult {
  orchestration: 'FanOutFanIn' | 'BenchFanOut';
  activities: number;
  runtimeStatus: string;
  outputCorrect: boolean;
  /** Client: POST start → status 200 Completed (polled every pollIntervalMs). */
  seconds: number;
  serverSeconds: number;
  activitiesPerSecond: number;
  pollIntervalMs: number;
  /** Peak RSS of the server process during the fan-out (VmHWM, reset before it when possible). */
  peakRssMiB: number;
  peakResetBeforeRun: boolean;
  rssAfterMiB: number;
  /** RSS of the server just before the fan-out (what it holds anyway: code, pools, caches). Absent in older results. */
  rssBeforeMiB?: number;
  /** Orchestration turns (OrchestratorStarted events) the fan-out took. */
  turns: number;
  historyEvents: number;
  /** CPU per activity (the whole fan-out, status polling included). */
  cpu: CpuPerOp;
}

export async function fanOut(t: Target, count: number, timeoutMs: number, orchestration: FanOutResult['orchestration'] = 'FanOutFanIn'): Promise<FanOutResult> {
  const { server, db } = t;
  const client = new HttpClient(server.url, 2);
  const cpu = meter(t);
  const pollIntervalMs = 20;
  try {
    const before = server.memory();
    const peakResetBeforeRun = server.resetPeak();
    await cpu.start();
    const start = performance.now();
    const id = await client.start(orchestration, { count });
    const end = await client.waitTerminal(id, pollIntervalMs, timeoutMs);
    const seconds = since(start) / 1000;
    const usage = await cpu.stop();
    const memory = server.memory();
    if (end === undefined) {
      await client.request('POST', `${BASE}/instances/${id}/terminate?reason=bench-timeout`).catch(() => undefined);
      throw new Error(`${orchestration}(${count}) did not complete within ${timeoutMs / 1000} s`);
    }
    const expected = (count * (count + 1) * (2 * count + 1)) / 6;
    const [serverMs] = await serverSideMs(db, [id]);
    const { rows } = await db.query<{ turns: number; events: number }>(
      `SELECT count(*) FILTER (WHERE event_type = 'OrchestratorStarted')::int AS turns, count(*)::int AS events FROM history WHERE instance_id = $1`,
      [id],
    );
    return {
      orchestration,
      activities: count,
      runtimeStatus: end.runtimeStatus,
      outputCorrect: end.output === expected,
      seconds: round(seconds, 3),
      serverSeconds: round((serverMs ?? Number.NaN) / 1000, 3),
      activitiesPerSecond: round(count / seconds, 1),
      pollIntervalMs,
      peakRssMiB: round((memory?.hwmKiB ?? Number.NaN) / 1024, 1),
      peakResetBeforeRun,
      rssAfterMiB: round((memory?.rssKiB ?? Number.NaN) / 1024, 1),
      rssBeforeMiB: round((before?.rssKiB ?? Number.NaN) / 1024, 1),
      turns: rows[0]?.turns ?? 0,
      historyEvents: rows[0]?.events ?? 0,
      cpu: perOp(usage, count),
    };
  } finally {
    client.close();
  }
}

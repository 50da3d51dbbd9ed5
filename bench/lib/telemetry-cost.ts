/**
 * What metrics and tracing cost: the start load (3) and the 10,000-activity fan-out (7) on servers
 * with telemetry off (TASKHUB_METRICS=false, no OTEL_*) and on (metrics, scraped every 5 s as a
 * Prometheus would, and every span exported over OTLP to a local receiver), in the same run,
 * alternating off/on/on/off so that drift on a shared machine falls on both sides alike.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { createLogger } from '../../src/log.ts';
import { Telemetry } from '../../src/telemetry/index.ts';
import { fanOut, type Target, connectTarget, starts } from './engine.ts';
import type { BenchServer } from './server.ts';
import { round } from './stats.ts';

export interface TelemetrySide {
  perSecond: number[];
  median: number;
  /** CPU µs per operation, server process + PostgreSQL backends (less sensitive to other load). */
  cpuUsPerOp: number[];
  cpuMedian: number;
}

export interface HookCost {
  /** CPU µs per call of the engine's instrumentation hooks, metrics and spans on, spans exported over OTLP. */
  startUs: number;
  turnUs: number;
  activityUs: number;
  iterations: number;
}

export interface TelemetryCostResult {
  order: Array<'off' | 'on'>;
  hooks?: HookCost;
  starts: { off: TelemetrySide; on: TelemetrySide; deltaPercent: number; cpuDeltaPercent: number };
  fanout: { off: TelemetrySide; on: TelemetrySide; deltaPercent: number; cpuDeltaPercent: number };
  otlp: { requests: number; bytes: number };
  scrapes: number;
}

export interface TelemetryPlan {
  rounds: number;
  startsConnections: number;
  startsSeconds: number;
  fanOut: number;
  fanOutTimeoutMs: number;
}

type StartServer = (databaseUrl: string, env: Record<string, string | undefined>) => Promise<BenchServer>;

/** An OTLP/HTTP receiver that accepts and counts export requests (an empty response is a full success). */
async function otlpReceiver(): Promise<{ url: string; requests: () => number; bytes: () => number; close: () => Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests, bytes: () => bytes, close: () => new Promise((r) => server.close(() => r())) };
}

/**
 * The hooks alone, in this process, on the same machine: what a start, a turn and an activity attempt
 * cost in CPU with metrics and tracing on (spans exported to the local receiver). Far steadier than the
 * throughput comparison under other load, and comparable with the server's CPU µs per operation.
 */
async function hookCost(otlpUrl: string, iterations: number): Promise<HookCost> {
  const telemetry = new Telemetry(
    { metrics: true, tracing: { serviceName: 'pg-taskhub-bench', exporter: new OTLPTraceExporter({ url: `${otlpUrl}/v1/traces` }) } },
    createLogger('silent'),
  );
  const ref = { instanceId: 'bench-instance', executionId: '00000000-0000-4000-8000-000000000000', name: 'BenchNoop' };
  const measure = async (fn: (i: number) => Promise<void> | void): Promise<number> => {
    for (let i = 0; i < 200; i++) await fn(i); // warm-up
    await telemetry.tracing?.flush();
    let cpu = 0;
    for (let done = 0; done < iterations; ) {
      const batch = Math.min(400, iterations - done); // below the span processor's queue limit
      const before = process.cpuUsage();
      for (let i = 0; i < batch; i++) await fn(done + i);
      await telemetry.tracing?.flush();
      const used = process.cpuUsage(before);
      cpu += used.user + used.system;
      done += batch;
    }
    return round(cpu / iterations, 1);
  };
  let parent: string | undefined;
  const startUs = await measure(async () => {
    await telemetry.start('BenchNoop', async (tp) => ((parent = tp), { kind: 'created', instanceId: 'x' }), () => 'accepted');
  });
  let jobTrace: string | undefined;
  const turnUs = await measure(() => {
    const t = telemetry.turn({ ...ref, traceparent: parent ?? null });
    jobTrace = t.traceparent;
    t.end('committed', 3);
  });
  const activityUs = await measure(async () => {
    const a = telemetry.activity({ ...ref, name: 'Square', taskId: 1, attempt: 0, traceparent: jobTrace });
    await a.run(async () => 1);
    a.end('completed');
  });
  await telemetry.shutdown();
  return { startUs, turnUs, activityUs, iterations };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const side = (r: { rate: number[]; cpu: number[] }): TelemetrySide => ({
  perSecond: r.rate,
  median: round(median(r.rate), 1),
  cpuUsPerOp: r.cpu,
  cpuMedian: round(median(r.cpu), 0),
});

export async function telemetryCost(
  plan: TelemetryPlan,
  newDatabase: (label: string) => Promise<string>,
  startServer: StartServer,
  schema: string,
  localPostgres: boolean,
): Promise<TelemetryCostResult> {
  const receiver = await otlpReceiver();
  const env = (mode: 'off' | 'on'): Record<string, string | undefined> =>
    mode === 'off'
      ? { TASKHUB_METRICS: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined }
      : { TASKHUB_METRICS: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined, OTEL_SERVICE_NAME: 'pg-taskhub-bench' };
  const order: Array<'off' | 'on'> = [];
  for (let i = 0; i < plan.rounds; i++) order.push(...(i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)));
  type Runs = { rate: number[]; cpu: number[] };
  const runs = (): Record<'off' | 'on', Runs> => ({ off: { rate: [], cpu: [] }, on: { rate: [], cpu: [] } });
  const results = { starts: runs(), fanout: runs() };
  const cpuOf = (c: { serverUsPerOp?: number; postgresUsPerOp?: number }): number => (c.serverUsPerOp ?? Number.NaN) + (c.postgresUsPerOp ?? Number.NaN);
  let scrapes = 0;

  const withServer = async (mode: 'off' | 'on', label: string, fn: (t: Target) => Promise<void>): Promise<void> => {
    const server = await startServer(await newDatabase(`${label}_${mode}`), env(mode));
    const target = await connectTarget(server, schema, localPostgres);
    // A Prometheus scraping every 5 s (the "on" side only: "off" has no /metrics).
    const scraper =
      mode === 'on'
        ? setInterval(() => {
            void fetch(`${server.url}/metrics`).then((r) => r.text()).then(() => scrapes++, () => undefined);
          }, 5000)
        : undefined;
    try {
      await fn(target);
    } finally {
      clearInterval(scraper);
      await target.db.end();
      await server.stop();
    }
  };

  let hooks: HookCost | undefined;
  try {
    hooks = await hookCost(receiver.url, 20_000);
    for (const mode of order) {
      await withServer(mode, 'tstarts', async (t) => {
        const r = await starts(t, plan.startsConnections, plan.startsSeconds);
        results.starts[mode].rate.push(r.okPerSecond);
        results.starts[mode].cpu.push(round(cpuOf(r.cpu), 0));
      });
    }
    for (const mode of order) {
      await withServer(mode, 'tfanout', async (t) => {
        const r = await fanOut(t, plan.fanOut, plan.fanOutTimeoutMs);
        results.fanout[mode].rate.push(r.activitiesPerSecond);
        results.fanout[mode].cpu.push(round(cpuOf(r.cpu), 0));
      });
    }
  } finally {
    await receiver.close();
  }
  const delta = (on: number[], off: number[]): number => round(((median(on) - median(off)) / median(off)) * 100, 1);
  const compare = (r: Record<'off' | 'on', { rate: number[]; cpu: number[] }>) => ({
    off: side(r.off),
    on: side(r.on),
    deltaPercent: delta(r.on.rate, r.off.rate),
    cpuDeltaPercent: delta(r.on.cpu, r.off.cpu),
  });
  return {
    order,
    ...(hooks ? { hooks } : {}),
    starts: compare(results.starts),
    fanout: compare(results.fanout),
    otlp: { requests: receiver.requests(), bytes: receiver.bytes() },
    scrapes,
  };
}

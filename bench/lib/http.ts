/**
 * HTTP against the server: a keep-alive client for the sequential measurements (start, poll), and
 * autocannon (as a library) for fixed-concurrency load.
 */
import http from 'node:http';
import autocannon from 'autocannon';
import { round } from './stats.ts';

export const BASE = '/runtime/webhooks/durabletask';

export interface Reply {
  status: number;
  body: string;
}

export class HttpClient {
  readonly origin: string;
  readonly agent: http.Agent;

  constructor(origin: string, maxSockets = 16) {
    this.origin = origin;
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, path: string, body?: string, timeoutMs = 30_000): Promise<Reply> {
    const url = new URL(path, this.origin);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method,
          agent: this.agent,
          headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Starts an orchestration; returns its instance id (throws unless 202). */
  async start(name: string, input?: unknown): Promise<string> {
    const reply = await this.request('POST', `${BASE}/orchestrators/${name}`, input === undefined ? '' : JSON.stringify(input));
    if (reply.status !== 202) throw new Error(`start ${name}: HTTP ${reply.status} ${reply.body.slice(0, 300)}`);
    return (JSON.parse(reply.body) as { id: string }).id;
  }

  async status(id: string): Promise<{ http: number; runtimeStatus?: string; output?: unknown }> {
    const reply = await this.request('GET', `${BASE}/instances/${encodeURIComponent(id)}?showInput=false`);
    if (reply.status !== 200 && reply.status !== 202) return { http: reply.status };
    const body = JSON.parse(reply.body) as { runtimeStatus: string; output: unknown };
    return { http: reply.status, runtimeStatus: body.runtimeStatus, output: body.output };
  }

  /** Polls until the instance is terminal (HTTP 200) or the deadline passes. */
  async waitTerminal(id: string, intervalMs: number, timeoutMs: number): Promise<{ runtimeStatus: string; output?: unknown } | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const s = await this.status(id);
      if (s.http === 200 && s.runtimeStatus !== undefined) return { runtimeStatus: s.runtimeStatus, output: s.output };
      if (s.http !== 202) throw new Error(`status of ${id}: HTTP ${s.http}`);
      if (performance.now() > deadline) return undefined;
      if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoadResult {
  connections: number;
  durationSeconds: number;
  requests: number;
  /** 2xx responses per second over the run. */
  okPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Cores the load generator (this process) kept busy: it shares the machine with the server. */
  loadGeneratorCores: number;
}

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  connections: number;
  durationSeconds: number;
  /** A hard cap on requests, so a very fast server still ends the loop. */
  maxRequests: number;
  /** Rewrites each request's path (e.g. to rotate over instance ids). */
  nextPath?: () => string;
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const request: autocannon.Request = { method: options.method };
  if (options.body !== undefined) {
    request.body = options.body;
    request.headers = { 'content-type': 'application/json' };
  }
  if (options.nextPath) {
    const next = options.nextPath;
    request.setupRequest = (req) => ({ ...req, path: next() });
  }
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSeconds,
    amount: undefined,
    maxOverallRequests: options.maxRequests,
    timeout: 10,
    requests: [request],
  } as autocannon.Options);
  const cpu = process.cpuUsage(cpu0);
  const loadGeneratorCores = round((cpu.user + cpu.system) / 1000 / (performance.now() - wall0), 2);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  const ok = result['2xx'];
  return {
    connections: options.connections,
    durationSeconds: round(result.duration, 3),
    requests: result.requests.total,
    okPerSecond: round(ok / result.duration, 1),
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: round(result.latency.average),
    },
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    loadGeneratorCores,
  };
}

/**
 * Process control: real pg-taskhub server processes (`node src/cli.ts --module <workload>`), each
 * with the reliability workload registered, on one database. A process is started, waited for (its
 * "pg-taskhub started" log line gives the HTTP address), measured (RSS from /proc), killed (any
 * signal, SIGKILL included) and always cleaned up by `Cluster.stopAll`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const WORKLOAD_MODULE = './reliability/lib/workload.ts';
const NODE_FLAGS = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

/** Variables of the harness's environment that would change what a server does: never inherited. */
const CONTROLLED = /^(TASKHUB_|RELIABILITY_|DATABASE_URL$|PORT$|HOST$|LOG_LEVEL$|NODE_ENV$|NODE_OPTIONS$|NODE_TEST_CONTEXT$)/;

export type Role = 'all' | 'api' | 'worker';

export interface NodeSpec {
  name: string;
  role: Role;
  /** Extra environment (TASKHUB_* settings, RELIABILITY_VARIANT, …). */
  env?: Record<string, string>;
  /** Default info: the "pg-taskhub started" line is how a process is known to be up. */
  logLevel?: string;
  /** Keep Fastify's per-request log lines (dropped by default: a load test writes millions). */
  keepRequestLogs?: boolean;
}

const REQUEST_LOG = /"msg":"(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) \S* \d{3}"/;

/** Every process started and not yet gone: killed if the harness itself exits early. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class ServerNode {
  readonly name: string;
  readonly role: Role;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | string>;
  /** The HTTP base URL (api and all roles), known once started. */
  url = '';
  private out = '';
  private partial = '';
  private readonly maxOutput: number;

  constructor(spec: NodeSpec, dbUrl: string, baseEnv: Record<string, string>, maxOutput = 20_000_000) {
    this.name = spec.name;
    this.role = spec.role;
    this.maxOutput = maxOutput;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CONTROLLED.test(k)) env[k] = v;
    Object.assign(env, {
      DATABASE_URL: dbUrl,
      PORT: '0',
      TASKHUB_ROLE: spec.role,
      TASKHUB_EXAMPLES: 'false',
      TASKHUB_SCHEDULES: 'false',
      LOG_LEVEL: spec.logLevel ?? 'info',
      ...baseEnv,
      ...spec.env,
    });
    this.child = spawn(process.execPath, [...NODE_FLAGS, 'src/cli.ts', '--module', WORKLOAD_MODULE], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid as number;
    live.add(this.child);
    this.child.on('exit', () => live.delete(this.child));
    const keepAll = spec.keepRequestLogs === true;
    const append = (d: Buffer): void => {
      const lines = (this.partial + d.toString()).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!keepAll && REQUEST_LOG.test(line)) continue;
        if (this.out.length < this.maxOutput) this.out += `${line}\n`;
      }
    };
    this.child.stdout?.on('data', append);
    this.child.stderr?.on('data', append);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  }

  /** Everything the process wrote (stdout and stderr), up to the cap. */
  output(): string {
    return this.out + this.partial;
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for "pg-taskhub started" and reads the HTTP address from it. */
  async started(timeoutMs = 60_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.out.split('\n').find((l) => l.includes('"pg-taskhub started"'));
      if (line) {
        const parsed = JSON.parse(line) as { url?: string };
        this.url = parsed.url ?? '';
        return this;
      }
      if (!this.running()) throw new Error(`${this.name} exited before it started:\n${this.out.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not start in ${timeoutMs} ms:\n${this.out.slice(-3000)}`);
      await sleep(50);
    }
  }

  /** Sends a signal and waits for the exit (SIGTERM: a graceful drain; SIGKILL: a crash). */
  async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | string> {
    if (this.running()) this.child.kill(signal);
    const timer = setTimeout(() => {
      if (this.running()) this.child.kill('SIGKILL');
    }, timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resident set size in kB (from /proc), or undefined once the process is gone. */
  rssKb(): number | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return match ? Number(match[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Log lines at warn (40) or above, parsed. */
  problems(minLevel = 50): Array<Record<string, unknown>> {
    return this.out.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return typeof parsed.level === 'number' && parsed.level >= minLevel ? [parsed] : [];
      } catch {
        return [];
      }
    });
  }
}

/** The processes of one scenario: all stopped (SIGTERM, then SIGKILL) by stopAll. */
export class Cluster {
  readonly dbUrl: string;
  readonly baseEnv: Record<string, string>;
  readonly nodes: ServerNode[] = [];

  constructor(dbUrl: string, baseEnv: Record<string, string> = {}) {
    this.dbUrl = dbUrl;
    this.baseEnv = baseEnv;
  }

  async start(spec: NodeSpec): Promise<ServerNode> {
    const node = new ServerNode(spec, this.dbUrl, this.baseEnv);
    this.nodes.push(node);
    return node.started();
  }

  /** Starts several at once (start-up is mostly waiting). */
  async startAll(specs: NodeSpec[]): Promise<ServerNode[]> {
    return Promise.all(specs.map((s) => this.start(s)));
  }

  /** Processes that died without being asked to (exit code or signal), by name. */
  unexpectedExits(killed: ReadonlySet<ServerNode> = new Set()): string[] {
    return this.nodes.filter((n) => !n.running() && !killed.has(n)).map((n) => `${n.name} (${n.child.exitCode ?? n.child.signalCode})`);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill('SIGTERM', 15_000).catch(() => undefined)));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a value other than undefined/false, or throws after the timeout. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

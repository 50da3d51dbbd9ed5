/**
 * The real pg-taskhub server, as a child process (`node src/cli.ts`), on a database of its own, with
 * the benchmark's orchestrations loaded as a user module (TASKHUB_MODULES). Peak memory comes from
 * the kernel (/proc/<pid>/status VmHWM), which can be reset between phases (clear_refs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfig } from '../../src/config.ts';
import { freePort } from '../../src/db/embedded.ts';
import { sleep } from './stats.ts';

export const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BENCH_MODULE = path.join(ROOT, 'bench', 'lib', 'orchestrations.ts');

/** Environment the benchmarks give the server; TASKHUB_* variables of the caller pass through (tuning). */
export function serverEnv(databaseUrl: string, port: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('TASKHUB_') && v !== undefined) env[k] = v;
  return {
    ...env,
    DATABASE_URL: databaseUrl,
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    TASKHUB_SCHEDULES: 'false',
    TASKHUB_MODULES: BENCH_MODULE,
  };
}

/** The TASKHUB_* variables a server gets from the caller (what was tuned), for the report. */
export function tunedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('TASKHUB_') && v !== undefined) env[k] = v;
  return env;
}

/** The effective configuration of a server started with serverEnv (defaults included). */
export function effectiveConfig(): Pick<Config, 'pg' | 'engine' | 'http' | 'schema'> {
  const config = loadConfig({ ...serverEnv('postgres://x@127.0.0.1/x', 1) }, ROOT);
  return { pg: config.pg, engine: config.engine, http: config.http, schema: config.schema };
}

export interface BenchServer {
  pid: number;
  url: string;
  databaseUrl: string;
  /** Peak and current resident set size of the server process, in KiB. */
  memory(): { hwmKiB: number; rssKiB: number } | undefined;
  /** Resets the peak RSS (Linux ≥ 4.0); false where that is not possible. */
  resetPeak(): boolean;
  output(): string;
  stop(): Promise<void>;
}

export async function startServer(
  databaseUrl: string,
  options: { cpuProfDir?: string; env?: Record<string, string | undefined>; role?: 'api' | 'worker' } = {},
): Promise<BenchServer> {
  const port = await freePort();
  const args = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
  if (options.cpuProfDir) args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
  args.push('src/cli.ts');
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: Object.fromEntries(
      Object.entries({
        ...process.env,
        ...serverEnv(databaseUrl, port),
        // A worker serves no HTTP: it is ready when it logs that it started (at info).
        ...(options.role ? { TASKHUB_ROLE: options.role } : {}),
        ...(options.role === 'worker' ? { LOG_LEVEL: 'info' } : {}),
        ...options.env,
      }).filter((e): e is [string, string] => e[1] !== undefined),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited while starting:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the server was not ready after 60 s:\n${out.slice(-3000)}`);
    }
    const ready = options.role === 'worker' ? out.includes('pg-taskhub started') : await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    await sleep(100);
  }
  const pid = child.pid as number;
  return {
    pid,
    url,
    databaseUrl,
    memory() {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const field = (name: string): number => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
        return { hwmKiB: field('VmHWM'), rssKiB: field('VmRSS') };
      } catch {
        return undefined;
      }
    },
    resetPeak() {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * End-to-end helpers: real server processes (spawned as a user would start them, each in a process
 * group of its own so a "terminal Ctrl-C" can be sent to the whole group), real HTTP, and a look at
 * /proc for PostgreSQL processes serving a given data folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const NODE_FLAGS = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

/** Variables of the parent's environment that would change what the server does: never inherited. */
const CONTROLLED = /^(TASKHUB_|DATABASE_URL$|PORT$|HOST$|LOG_LEVEL$|NODE_ENV$|NODE_OPTIONS$|NODE_TEST_CONTEXT$)/;

export function childEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !CONTROLLED.test(k)) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export interface LogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** The JSON (pino) lines of stdout. */
  logs(): LogLine[];
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  running(): boolean;
  /** Sends a signal to the process only (`kill -INT <pid>`). */
  signal(signal: NodeJS.Signals): void;
  /** Sends a signal to its whole process group, as a terminal's Ctrl-C does. */
  signalGroup(signal: NodeJS.Signals): void;
}

const spawned = new Set<ServerProcess>();

/** Starts `node [...args]` in ROOT (default: the server, `src/cli.ts`) in a process group of its own. */
export function spawnNode(env: Record<string, string | undefined>, args: string[] = [...NODE_FLAGS, 'src/cli.ts'], cwd = ROOT): ServerProcess {
  return spawnCommand(process.execPath, args, env, cwd);
}

/** Starts a command (`npm start`, `npx pg-taskhub`, …) in a process group of its own. */
export function spawnCommand(file: string, args: string[], env: Record<string, string | undefined>, cwd = ROOT): ServerProcess {
  const child = spawn(file, args, { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const proc: ServerProcess = {
    child,
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    logs: () =>
      out.split('\n').flatMap((line) => {
        if (!line.startsWith('{')) return [];
        try {
          return [JSON.parse(line) as LogLine];
        } catch {
          return [];
        }
      }),
    exited,
    running,
    signal: (signal) => {
      if (running()) child.kill(signal);
    },
    signalGroup: (signal) => {
      if (running()) process.kill(-(child.pid as number), signal);
    },
  };
  spawned.add(proc);
  void exited.then(() => spawned.delete(proc));
  return proc;
}

/** After hooks: SIGKILLs the process group of every server still running. */
export async function killAll(): Promise<void> {
  const all = [...spawned];
  for (const proc of all) {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(all.map((p) => p.exited));
}

/** The exit code, or fails (and kills the process) when it has not exited within the time. */
export async function exitWithin(proc: ServerProcess, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`the process did not exit within ${ms} ms; output:\n${proc.stdout().slice(-3000)}\n${proc.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, proc?: ServerProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (proc && !proc.running()) throw new Error(`the process exited while waiting for ${what}:\n${proc.stdout().slice(-3000)}\n${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${proc ? `:\n${proc.stdout().slice(-3000)}\n${proc.stderr()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function waitForLog(proc: ServerProcess, msg: string, timeoutMs = 30_000): Promise<LogLine> {
  return waitFor(`the log line '${msg}'`, () => proc.logs().find((l) => l.msg === msg), timeoutMs, proc);
}

/** Waits until GET url answers 200. */
export function waitForHttp(url: string, proc: ServerProcess, timeoutMs = 30_000): Promise<Response> {
  return waitFor(
    url,
    async () => {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
        return res.status === 200 ? res : undefined;
      } catch {
        return undefined;
      }
    },
    timeoutMs,
    proc,
  );
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

const tempDirs: string[] = [];

/**
 * A fresh folder under the OS temp folder. World-traversable: run as root, the embedded PostgreSQL
 * runs as the user 'postgres', which must reach the data folder inside it.
 */
export function tempDir(prefix = 'taskhub-e2e-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The live processes whose command line mentions `dir` (the postmaster, `postgres -D <dir>/...`),
 * and their children (the backends and auxiliary processes, whose command lines are rewritten to
 * "postgres: checkpointer" and the like). Zombies are not counted.
 */
export function postgresProcesses(dir: string): number[] {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && p !== String(process.pid));
  const parents = new Set(pids.filter((p) => readProc(p, 'cmdline').split('\0').some((arg) => arg.includes(dir))));
  const found = pids.filter((p) => {
    if (parents.has(p)) return true;
    const ppid = /^PPid:\s+(\d+)$/m.exec(readProc(p, 'status'))?.[1];
    return ppid !== undefined && parents.has(ppid);
  });
  return found.filter((p) => !/^State:\s+Z/m.test(readProc(p, 'status'))).map(Number);
}

/** The process group of a process (field 5 of /proc/<pid>/stat; the command name may hold spaces). */
export function processGroup(pid: number): number {
  const stat = readProc(String(pid), 'stat');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

/** The postmaster: the process whose command line names a data folder under `dir`. */
export function postmaster(dir: string): number | undefined {
  const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && p !== String(process.pid));
  const found = pids.find((p) => readProc(p, 'cmdline').split('\0').some((arg) => arg.includes(dir)));
  return found === undefined ? undefined : Number(found);
}

export function alive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return !/^State:\s+Z/m.test(readProc(String(pid), 'status'));
    } catch {
      return false;
    }
  });
}

/** After hooks: stops (SIGKILL) any PostgreSQL still serving a data folder under `dir`. */
export function killPostgres(dir: string): void {
  for (const pid of postgresProcesses(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

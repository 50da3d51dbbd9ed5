/**
 * CPU time spent by the server process and by the PostgreSQL backends of its database during a phase
 * (Linux /proc; both run on this machine). CPU per operation is far less sensitive to other load on
 * the machine than throughput is, which makes it the better evidence of where the cost is.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { round } from './stats.ts';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds of a process so far; undefined where /proc cannot tell. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces), counted from field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) / clockTicks()) * 1000;
  } catch {
    return undefined;
  }
}

export interface CpuUsage {
  /** CPU ms of the server process. */
  serverMs: number | undefined;
  /** CPU ms of the PostgreSQL backends connected to the server's database (backends that ended within the phase are missed). */
  postgresMs: number | undefined;
  /** Sessions (connections) opened to the database during the phase (pg_stat_database.sessions, PostgreSQL ≥ 14). */
  newSessions: number | undefined;
  wallMs: number;
}

export interface CpuPerOp {
  serverUsPerOp: number | undefined;
  postgresUsPerOp: number | undefined;
  /** Cores busy on average: server, postgres. */
  serverCores: number | undefined;
  postgresCores: number | undefined;
  /** New PostgreSQL connections during the phase: a pool that keeps its connections opens next to none. */
  newSessions: number | undefined;
}

/** CPU ms of several processes together (a split deployment's API and workers); undefined if one cannot be read. */
function processesCpuMs(pids: readonly number[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms === undefined) return undefined;
    sum += ms;
  }
  return sum;
}

export class CpuMeter {
  private readonly serverPids: readonly number[];
  private readonly db: pg.Client;
  private readonly measurePostgres: boolean;
  private server0: number | undefined;
  private backends0 = new Map<number, number>();
  private sessions0: number | undefined;
  private wall0 = 0;

  /** measurePostgres: only when PostgreSQL runs on this machine (its backends' pids are ours to read). */
  constructor(serverPid: number | readonly number[], db: pg.Client, measurePostgres: boolean) {
    this.serverPids = typeof serverPid === 'number' ? [serverPid] : serverPid;
    this.db = db;
    this.measurePostgres = measurePostgres;
  }

  private async backends(): Promise<Map<number, number>> {
    if (!this.measurePostgres) return new Map();
    const { rows } = await this.db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database()');
    const out = new Map<number, number>();
    for (const { pid } of rows) {
      const ms = processCpuMs(pid);
      if (ms !== undefined) out.set(pid, ms);
    }
    return out;
  }

  private async sessions(): Promise<number | undefined> {
    try {
      const { rows } = await this.db.query<{ sessions: string | null }>('SELECT sessions FROM pg_stat_database WHERE datname = current_database()');
      return rows[0]?.sessions == null ? undefined : Number(rows[0].sessions);
    } catch {
      return undefined; // PostgreSQL < 14
    }
  }

  async start(): Promise<void> {
    this.sessions0 = await this.sessions();
    this.backends0 = await this.backends();
    this.server0 = processesCpuMs(this.serverPids);
    this.wall0 = performance.now();
  }

  async stop(): Promise<CpuUsage> {
    const server1 = processesCpuMs(this.serverPids);
    const wallMs = performance.now() - this.wall0;
    const backends1 = await this.backends();
    let postgresMs: number | undefined;
    if (backends1.size > 0) {
      postgresMs = 0;
      // A backend that connected during the phase spent all of its CPU in it.
      for (const [pid, ms] of backends1) postgresMs += ms - (this.backends0.get(pid) ?? 0);
    }
    // Session counts reach the statistics up to a second late.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const sessions1 = await this.sessions();
    return {
      serverMs: server1 !== undefined && this.server0 !== undefined ? server1 - this.server0 : undefined,
      postgresMs,
      newSessions: sessions1 !== undefined && this.sessions0 !== undefined ? sessions1 - this.sessions0 : undefined,
      wallMs,
    };
  }
}

export function perOp(usage: CpuUsage, ops: number): CpuPerOp {
  const per = (ms: number | undefined): number | undefined => (ms === undefined || ops === 0 ? undefined : round((ms * 1000) / ops, 1));
  const cores = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : round(ms / usage.wallMs, 2));
  return {
    serverUsPerOp: per(usage.serverMs),
    postgresUsPerOp: per(usage.postgresMs),
    serverCores: cores(usage.serverMs),
    postgresCores: cores(usage.postgresMs),
    newSessions: usage.newSessions,
  };
}

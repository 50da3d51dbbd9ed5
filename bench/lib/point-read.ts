/**
 * Baseline 4b, the HTTP point-read limit: a bare Fastify + pg server (bench/baseline/fastify-pg.ts, a
 * child process like the pg-taskhub server) reading one row by primary key, loaded by autocannon with
 * the status-read benchmark's connections and duration, its pool the size of the server's API pool.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { CpuMeter, type CpuPerOp, perOp } from './cpu.ts';
import { load, type LoadResult } from './http.ts';
import { ROOT } from './server.ts';

export interface PointReadResult extends LoadResult {
  poolMax: number;
  rows: number;
  cpu: CpuPerOp;
}

export async function pointReadBaseline(databaseUrl: string, poolMax: number, connections: number, seconds: number, localPostgres: boolean): Promise<PointReadResult> {
  const rows = 1000;
  const args = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', path.join('bench', 'baseline', 'fastify-pg.ts'), JSON.stringify({ databaseUrl, poolMax, rows })];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Fastify + pg baseline was not ready after 30 s:\n${out.slice(-2000)}`)), 30_000);
    const check = (): void => {
      const m = out.match(/READY (\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the Fastify + pg baseline exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
  const db = new pg.Client({ connectionString: databaseUrl, application_name: 'pg-taskhub-bench' });
  await db.connect();
  try {
    const cpu = new CpuMeter(child.pid as number, db, localPostgres);
    const url = `http://127.0.0.1:${port}`;
    // Warm the pool and the JIT as the server's status bench is warmed by its start phase.
    await load({ url: `${url}/rows/row-1`, method: 'GET', connections, durationSeconds: 1, maxRequests: 20_000 });
    let i = 0;
    await cpu.start();
    const result = await load({
      url: `${url}/rows/row-1`,
      method: 'GET',
      connections,
      durationSeconds: seconds,
      maxRequests: 5_000_000,
      nextPath: () => `/rows/row-${(i++ % rows) + 1}`,
    });
    const usage = await cpu.stop();
    return { ...result, poolMax, rows, cpu: perOp(usage, result.requests) };
  } finally {
    await db.end();
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * The harness's own database access: a fresh database per scenario on the server named by
 * DATABASE_URL (created before, dropped after), and a small pool tagged 'reliability-harness' so
 * that fault injection (pg_terminate_backend by application_name) never hits the harness itself.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const HARNESS_APP = 'reliability-harness';
export const SCHEMA = 'taskhub';
export const BOSS_SCHEMA = 'taskhub_boss';
export const ACTIVE = `('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`;

export function baseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run with DATABASE_URL=postgres://… npm run reliability');
  return url;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface ScenarioDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: HARNESS_APP });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function harnessPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, application_name: HARNESS_APP, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined); // a restart or a terminated backend: the next query reconnects
  return pool;
}

/** A fresh database for one scenario on the DATABASE_URL server. */
export async function createScenarioDatabase(prefix: string, server = baseUrl()): Promise<ScenarioDatabase> {
  const name = `rel_${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
  await admin(server, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = withDatabase(server, name);
  const pool = harnessPool(url);
  return {
    url,
    name,
    pool,
    drop: async () => {
      await pool.end().catch(() => undefined);
      await admin(server, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
    },
  };
}

export async function count(pool: pg.Pool, sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string | number }>(sql, values);
  return Number(rows[0]?.n ?? 0);
}

/** Instances still active (not terminal). */
export function activeCount(pool: pg.Pool): Promise<number> {
  return count(pool, `SELECT count(*) AS n FROM ${SCHEMA}.instances WHERE runtime_status IN ${ACTIVE}`);
}

export async function statusCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ s: string; n: number }>(
    `SELECT runtime_status AS s, count(*)::int AS n FROM ${SCHEMA}.instances GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.s, r.n]));
}

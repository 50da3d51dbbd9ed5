/**
 * The Postgres server the benchmarks run on: DATABASE_URL, or the embedded PostgreSQL (started here
 * with a data folder of its own, .bench-pg). Every part of a run gets a fresh database of its own on
 * that server (bench_<purpose>_<random>), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { isLoopback } from '../../src/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

export interface PgServer {
  /** 'DATABASE_URL' or 'embedded'. */
  kind: 'DATABASE_URL' | 'embedded';
  /** host:port, never the password. */
  address: string;
  /** Whether it runs on this machine (its processes' CPU can be read). */
  local: boolean;
  /** A connection URL to the database named `name` on this server. */
  urlFor(name: string): string;
  /** Creates a fresh database and returns its name. */
  createDatabase(purpose: string): Promise<string>;
  dropDatabases(): Promise<void>;
  /** `SELECT version()` and the settings that bear on commit speed. */
  describe(): Promise<{ version: string; settings: Record<string, string> }>;
  stop(): Promise<void>;
}

const SETTINGS = ['server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections', 'max_wal_size'];

export async function connectPgServer(root: string, log: Logger, keep = false): Promise<PgServer> {
  let adminUrl: string;
  let kind: PgServer['kind'];
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
    kind = 'DATABASE_URL';
  } else {
    const embedded = await startEmbeddedPostgres(path.join(root, '.bench-pg'), log);
    adminUrl = embedded.connectionString;
    kind = 'embedded';
    stopEmbedded = embedded.stop;
  }
  const base = new URL(adminUrl);
  const created: string[] = [];
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl, application_name: 'pg-taskhub-bench' });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  const urlFor = (name: string): string => {
    const u = new URL(base.href);
    u.pathname = `/${name}`;
    return u.href;
  };
  return {
    kind,
    address: `${base.hostname}:${base.port || '5432'}`,
    local: isLoopback(base.hostname),
    urlFor,
    async createDatabase(purpose) {
      const name = `bench_${purpose}_${randomBytes(4).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${name}`));
      created.push(name);
      return name;
    },
    async dropDatabases() {
      if (keep) return;
      for (const name of created.splice(0)) {
        await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((err) =>
          log.warn({ err: (err as Error).message, name }, 'could not drop a benchmark database'),
        );
      }
    },
    async describe() {
      return admin(async (c) => {
        const version = (await c.query<{ version: string }>('SELECT version()')).rows[0]?.version ?? 'unknown';
        const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
          'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
          [SETTINGS],
        );
        const settings: Record<string, string> = {};
        for (const r of rows) settings[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
        return { version, settings };
      });
    },
    async stop() {
      await stopEmbedded?.();
    },
  };
}

/**
 * The migration runner: numbered, forward-only SQL files from `migrations/`, applied in order, each
 * in its own transaction together with its version row, under an advisory lock so that any number of
 * processes can start at once. A failing file rolls back and throws (the CLI exits non-zero).
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Pool } from './pool.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** An arbitrary constant that names "pg-taskhub migrations" among advisory locks. */
const MIGRATION_LOCK = 7_071_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const version = Number(file.slice(0, 4));
    if (migrations.some((m) => m.version === version)) throw new Error(`two migrations share version ${version}`);
    migrations.push({ version, name: file, sql: await readFile(new URL(file, `file://${dir}/`), 'utf8') });
  }
  return migrations;
}

/** The tables of the shipped examples (files named NNNN_example_*.sql): applied only with the examples. */
export function isExampleMigration(migration: Migration): boolean {
  return /^\d{4}_example_/.test(migration.name);
}

export interface MigrateOptions {
  dir?: string;
  /** Apply the examples' migrations too (default true); applied later should the examples be turned on. */
  examples?: boolean;
}

/** Applies every migration not yet applied, in version order; returns the names applied. */
export async function migrate(pool: Pool, schema: string, log: Logger, options: MigrateOptions = {}): Promise<string[]> {
  const migrations = (await loadMigrations(options.dir)).filter((m) => options.examples !== false || !isExampleMigration(m));
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations`);
    const done = new Set(rows.map((r) => r.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL search_path = ${schema}, public`);
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(migration.name);
      log.info({ migration: migration.name }, 'migration applied');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}

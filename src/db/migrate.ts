/**
 * The migration runner: numbered, forward-only SQL files from `migrations/`, applied in order, each
 * in its own transaction together with its version row, under an advisory lock so that any number of
 * processes can start at once. A failing file rolls back and throws (the CLI exits non-zero), and so
 * do a misnamed file and a database already migrated past what this code knows (as graphile-worker's
 * runner does): running old code on a newer schema would fail later, in less readable ways.
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

/** A migration file's name: a four-digit version, an underscore, a lowercase name, `.sql`. */
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/**
 * The migrations in `dir`, in version order. Throws on a file that looks like a migration but is
 * misnamed (it would otherwise be skipped without a word), on two files with one version and on a
 * gap in the numbering.
 */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = (await readdir(dir)).filter((f) => !f.startsWith('.')).sort();
  const misnamed = entries.filter((f) => !MIGRATION_FILE.test(f));
  if (misnamed.length > 0) {
    throw new Error(`misnamed migration file(s) in ${dir}: ${misnamed.join(', ')} (expected NNNN_lowercase_name.sql)`);
  }
  const migrations: Migration[] = [];
  for (const file of entries) {
    const version = Number(file.slice(0, 4));
    if (migrations.some((m) => m.version === version)) throw new Error(`two migrations share version ${version}`);
    if (version !== migrations.length + 1) throw new Error(`migration ${file} breaks the numbering: expected version ${migrations.length + 1}`);
    migrations.push({ version, name: file, sql: await readFile(new URL(file, `file://${dir}/`), 'utf8') });
  }
  return migrations;
}

/**
 * Refuses a database this code does not know how to run on: one migrated by a newer release (a
 * version above the newest file here), or one whose applied migration of a version carries another
 * file's name (a file renamed or replaced after it was applied).
 */
function checkApplied(applied: ReadonlyArray<{ version: number; name: string }>, migrations: readonly Migration[], schema: string): void {
  const newest = migrations.at(-1)?.version ?? 0;
  for (const row of applied) {
    if (row.version > newest) {
      throw new Error(
        `the database schema '${schema}' is at migration ${row.version} (${row.name}), newer than this code's newest (${newest}): ` +
          'run a pg-taskhub release at least as new as the one that migrated it',
      );
    }
    const known = migrations.find((m) => m.version === row.version);
    if (known !== undefined && known.name !== row.name) {
      throw new Error(`migration ${row.version} was applied as ${row.name} but is ${known.name} in this code: the file was renamed or replaced`);
    }
  }
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
  const all = await loadMigrations(options.dir);
  const migrations = all.filter((m) => options.examples !== false || !isExampleMigration(m));
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
    const { rows } = await client.query<{ version: number; name: string }>(`SELECT version, name FROM ${schema}.schema_migrations`);
    checkApplied(rows, all, schema);
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

/**
 * The migration runner's refusals: a misnamed file, a gap in the numbering, a database migrated by
 * newer code, an applied migration whose file was renamed. Each fails before anything is applied.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadMigrations, migrate, MIGRATIONS_DIR } from '../../src/db/migrate.ts';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const log = createLogger('silent');

function copyOfMigrations(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'taskhub-migrations-'));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe('migration runner', () => {
  let db: TestDatabase;
  let pool: Pool;
  const dirs: string[] = [];
  before(async () => {
    db = await createTestDatabase();
    pool = createPool({ connectionString: db.url, schema: 'mig', max: 2, connectionTimeoutMs: 10_000, statementTimeoutMs: 30_000, idleInTransactionTimeoutMs: 60_000 }, log);
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dir = (): string => {
    const d = copyOfMigrations();
    dirs.push(d);
    return d;
  };
  const versions = async (): Promise<number[]> =>
    (await pool.query<{ version: number }>('SELECT version FROM mig.schema_migrations ORDER BY version')).rows.map((r) => r.version);

  it("the shipped migrations load, numbered 1..n", async () => {
    const migrations = await loadMigrations();
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
  });

  for (const name of ['5_late.sql', '0005-late.sql', '0005_Late.sql', '0005_late.SQL', 'late.sql']) {
    it(`a misnamed file (${name}) fails loudly instead of being skipped`, async () => {
      const d = dir();
      writeFileSync(path.join(d, name), 'SELECT 1;');
      await assert.rejects(loadMigrations(d), (err: Error) => err.message.includes('misnamed migration') && err.message.includes(name));
    });
  }

  it('a gap in the numbering fails', async () => {
    const d = dir();
    const next = (await loadMigrations()).length + 1;
    writeFileSync(path.join(d, `${String(next + 1).padStart(4, '0')}_far_ahead.sql`), 'SELECT 1;');
    await assert.rejects(loadMigrations(d), new RegExp(`breaks the numbering: expected version ${next}`));
  });

  it('applies everything once, then refuses a database migrated by newer code and applies nothing', async () => {
    const d = dir();
    const applied = await migrate(pool, 'mig', log, { dir: d });
    assert.ok(applied.length >= 4);
    assert.deepEqual(await migrate(pool, 'mig', log, { dir: d }), []);
    const before = await versions();
    await pool.query(`INSERT INTO mig.schema_migrations (version, name) VALUES ($1, 'from_the_future.sql')`, [before.length + 1]);
    // A file this code does not have yet; the runner must not apply it on top of a newer schema.
    const older = dir();
    await assert.rejects(migrate(pool, 'mig', log, { dir: older }), /newer than this code's newest/);
    await pool.query(`DELETE FROM mig.schema_migrations WHERE name = 'from_the_future.sql'`);
    assert.deepEqual(await versions(), before);
  });

  it('refuses an applied migration whose file now carries another name', async () => {
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM mig.schema_migrations WHERE version = 1');
    await pool.query(`UPDATE mig.schema_migrations SET name = '0001_renamed.sql' WHERE version = 1`);
    try {
      await assert.rejects(migrate(pool, 'mig', log, { dir: dir() }), /was applied as 0001_renamed.sql/);
    } finally {
      await pool.query(`UPDATE mig.schema_migrations SET name = $1 WHERE version = 1`, [rows[0]!.name]);
    }
    assert.deepEqual(await migrate(pool, 'mig', log, { dir: dir() }), []);
  });
});

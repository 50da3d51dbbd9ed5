/**
 * Prepared statements (src/db/prepared.ts): a parameterised query runs as a statement named by its
 * text, prepared once per connection and reused; queries without parameters (BEGIN, scripts of
 * several statements) still run on the simple protocol.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { bossDb, createPool, type Pool } from '../../src/db/pool.ts';
import { statementName } from '../../src/db/prepared.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('prepared statements', () => {
  let db: TestDatabase;
  let pool: Pool;
  before(async () => {
    db = await createTestDatabase();
    // One connection: every query below runs on the same session, whose prepared statements we read.
    pool = createPool({ connectionString: db.url, schema: 'public', max: 1, connectionTimeoutMs: 5000, statementTimeoutMs: 5000, idleInTransactionTimeoutMs: 5000 }, createLogger('silent'));
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  const prepared = async (): Promise<Array<{ name: string; statement: string }>> =>
    (await pool.query<{ name: string; statement: string }>(`SELECT name, statement FROM pg_prepared_statements ORDER BY prepare_time`)).rows;

  it('prepares a parameterised query once, by its text, and reuses it', async () => {
    const text = 'SELECT $1::int + 1 AS n';
    for (let i = 0; i < 3; i++) assert.equal((await pool.query<{ n: number }>(text, [i])).rows[0]?.n, i + 1);
    const mine = (await prepared()).filter((p) => p.statement === text);
    assert.equal(mine.length, 1, 'one prepared statement for three executions');
    assert.equal(mine[0]?.name, statementName(text));
    // A config object without a name is named the same way; a different text is another statement.
    assert.equal((await pool.query<{ n: number }>({ text, values: [41] })).rows[0]?.n, 42);
    assert.equal((await pool.query<{ s: string }>('SELECT $1::text AS s', ['x'])).rows[0]?.s, 'x');
    const all = await prepared();
    assert.equal(all.filter((p) => p.statement === text).length, 1);
    assert.ok(all.some((p) => p.statement === 'SELECT $1::text AS s'));
  });

  it('leaves queries without parameters on the simple protocol (multi-statement scripts keep working)', async () => {
    const before = (await prepared()).length;
    const results = (await pool.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as Array<{ rows: unknown[] }>;
    assert.equal(results.length, 2);
    await pool.query('BEGIN');
    await pool.query('COMMIT');
    // The read of pg_prepared_statements itself has no parameters either.
    assert.equal((await prepared()).length, before);
  });

  it('keeps an explicit name', async () => {
    await pool.query({ name: 'my-own', text: 'SELECT $1::int AS v', values: [7] });
    assert.ok((await prepared()).some((p) => p.name === 'my-own'));
  });

  it("prepares pg-boss's statements sent through bossDb, also those with their values inlined", async () => {
    const adapter = bossDb(pool);
    const text = `SELECT 'inlined' AS v`;
    for (let i = 0; i < 2; i++) assert.equal((await adapter.executeSql(text)).rows[0]?.v, 'inlined');
    assert.equal((await prepared()).filter((p) => p.statement === text).length, 1);
  });

  it('a failing prepared statement leaves the connection usable', async () => {
    await assert.rejects(pool.query('SELECT 1 / $1::int', [0]), /division by zero/);
    assert.equal((await pool.query<{ v: number }>('SELECT 1 / $1::int AS v', [1])).rows[0]?.v, 1);
  });
});

/**
 * A migrated engine schema on a fresh database, without pg-boss or any loop running: for tests of
 * the store's verbs and of the schema itself (test/store/).
 */
import { migrate } from '../../src/db/migrate.ts';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface StoreDb {
  pool: Pool;
  db: TestDatabase;
  schema: string;
  close(): Promise<void>;
}

export async function openStoreDb(schema = 'taskhub'): Promise<StoreDb> {
  const db = await createTestDatabase();
  const log = createLogger('silent');
  const pool = createPool(
    { connectionString: db.url, schema, max: 6, connectionTimeoutMs: 10_000, statementTimeoutMs: 30_000, idleInTransactionTimeoutMs: 60_000 },
    log,
  );
  await migrate(pool, schema, log);
  return {
    pool,
    db,
    schema,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

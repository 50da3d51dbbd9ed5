/**
 * A migrated engine schema on a fresh database, without pg-boss or any loop running: for tests of
 * the store's verbs and of the schema itself (test/store/).
 */
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { migrate } from '../../src/db/migrate.ts';
import { createPool, type Pool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import { createInstance, type NewInstance } from '../../src/orchestrator/store/instances.ts';
import { wakeChannel } from '../../src/orchestrator/store/turns.ts';
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

/** A migrated database for the whole test file: opened before its tests, dropped after. */
export function useStoreDb(): () => StoreDb {
  let store: StoreDb | undefined;
  before(async () => {
    store = await openStoreDb();
  });
  after(async () => {
    await store?.close();
  });
  return () => {
    if (store === undefined) throw new Error('the store database is not open yet');
    return store;
  };
}

/** A new instance's row as a start would write it (a fresh id and execution unless given). */
export function newInstance(overrides: Partial<NewInstance> = {}): NewInstance {
  return { instanceId: `i-${randomUUID()}`, name: 'Contract', executionId: randomUUID(), input: undefined, singletonKey: null, ...overrides };
}

/** Creates an instance through the one start statement, alone (its own transaction). */
export async function seedInstance(store: StoreDb, overrides: Partial<NewInstance> = {}): Promise<NewInstance> {
  const instance = newInstance(overrides);
  const outcome = await createInstance(store.pool, instance, wakeChannel(store.schema), 'alone');
  if (!outcome.created) throw new Error(`seed ${instance.instanceId} was refused: ${outcome.reason}`);
  return instance;
}

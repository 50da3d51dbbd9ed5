/**
 * TASKHUB_EXAMPLES=false (or a library registry without the examples) leaves no example traces:
 * the examples' tables are not created, and a schedule row left by an earlier run with the
 * examples is shown as not registered.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { registerExamples } from '../../src/examples/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestHub } from '../helpers/hub.ts';

const dbs: TestDatabase[] = [];
after(async () => {
  for (const db of dbs) await db.drop();
});

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ t: string }>(
      `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'taskhub' ORDER BY 1`,
    );
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

/** The examples as `npm start` registers them (DataIngest on its daily schedule). */
function shipped(): Registry {
  return registerExamples(new Registry());
}

function ownRegistry(): Registry {
  return new Registry().activity('Echo', async (x: unknown) => x).orchestration('Mine', function* (context) {
    return yield context.df.callActivity('Echo', context.df.getInput());
  });
}

describe('without the examples', () => {
  it('a fresh database gets no example tables; turning the examples on later adds them', async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const hub = await startTestHub({ db, registry: ownRegistry() });
    await hub.stop();
    const without = await tables(db.url);
    assert.ok(without.includes('instances'), without.join(','));
    assert.ok(!without.includes('ingest_items') && !without.includes('example_counters'), without.join(','));

    const withExamples = await startTestHub({ db }); // the test registry includes the examples
    await withExamples.stop();
    const later = await tables(db.url);
    assert.ok(later.includes('ingest_items') && later.includes('example_counters'), later.join(','));
  });

  it("GET /schedules marks the examples' schedule row from an earlier run as not registered", async () => {
    const db = await createTestDatabase();
    dbs.push(db);
    const first = await startTestHub({ db, registry: shipped() }); // as `npm start`: DataIngest's schedule row is written
    await first.stop();

    const hub = await startTestHub({ db, registry: ownRegistry(), listen: true });
    try {
      const res = await fetch(`${hub.url}/runtime/webhooks/durabletask/schedules`);
      assert.equal(res.status, 200);
      const schedules = (await res.json()) as Array<{ name: string; registered: boolean }>;
      const ingest = schedules.find((s) => s.name === 'DataIngest');
      assert.ok(ingest, JSON.stringify(schedules));
      assert.equal(ingest.registered, false);
    } finally {
      await hub.stop();
    }

    const again = await startTestHub({ db, registry: shipped(), listen: true });
    try {
      const schedules = (await (await fetch(`${again.url}/runtime/webhooks/durabletask/schedules`)).json()) as Array<{ name: string; registered: boolean }>;
      assert.equal(schedules.find((s) => s.name === 'DataIngest')?.registered, true);
    } finally {
      await again.stop();
    }
  });
});

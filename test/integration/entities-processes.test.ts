/**
 * Entities across worker processes: two workers share one entity under concurrent signals from
 * many orchestrations and the client (still one operation at a time, in one order), and a worker
 * killed with SIGKILL in the middle of an entity turn loses nothing and doubles nothing: after its
 * lease expires the other worker runs the same operations again, and each is recorded once.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Registry } from '../../src/orchestrator/registry.ts';
import { registerEntityFixtures } from '../fixtures/entity-fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestHub, type TestHub, waitForInstance, until } from '../helpers/hub.ts';
import { type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';

let db: TestDatabase;
let api: TestHub;
const workers: ServerProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'entities-'));

function worker(): ServerProcess {
  const proc = spawnServer(
    { DATABASE_URL: db.url, TASKHUB_ROLE: 'worker', LOG_LEVEL: 'info', TASKHUB_TURN_LEASE_SECONDS: '3', TASKHUB_SCHEDULES: 'false', TASKHUB_EXAMPLES: 'false' },
    ['--module', './test/fixtures/entity-fixtures.ts'],
  );
  workers.push(proc);
  return proc;
}

interface Ledger {
  entries: unknown[];
  spans: Array<[number, number]>;
}

async function ledger(key: string): Promise<Ledger | undefined> {
  const e = await api.client.entities.get('Ledger', key);
  return e?.state == null ? undefined : (JSON.parse(e.state) as Ledger);
}


function assertOneAtATime(spans: Array<[number, number]>): void {
  const sorted = [...spans].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok((sorted[i] as [number, number])[0] >= (sorted[i - 1] as [number, number])[1], `operations ${i - 1} and ${i} overlapped`);
  }
}

before(async () => {
  db = await createTestDatabase();
  api = await startTestHub({ db, registry: registerEntityFixtures(new Registry()), env: { TASKHUB_ROLE: 'api' } });
});

after(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await api?.close();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

it('two worker processes, 30 orchestrations and 30 client signals on one entity: all applied once, never two at a time', async () => {
  const [a, b] = [worker(), worker()];
  await Promise.all([waitForOutput(a, /pg-taskhub started/), waitForOutput(b, /pg-taskhub started/)]);
  const ids = Array.from({ length: 30 }, (_, i) => `two-${i}`);
  await Promise.all([
    ...ids.map((id, i) => api.client.start({ name: 'AppendsOnce', instanceId: id, input: JSON.stringify({ key: 'two', value: i }) })),
    // One sender, one after the other (while the orchestrations run): its operations keep its order.
    (async () => {
      for (let i = 0; i < 30; i++) await api.client.entities.signal('Ledger', 'two', 'append', String(100 + i));
    })(),
  ]);
  const rows = await Promise.all(ids.map((id) => waitForInstance(api, id, undefined, 120_000)));
  assert.ok(rows.every((r) => r.runtimeStatus === 'Completed'), rows.map((r) => r.output).join());
  const state = await until('60 entries', async () => {
    const s = await ledger('two');
    return s && s.entries.length >= 60 ? s : undefined;
  }, 60_000);
  const expected = [...Array.from({ length: 30 }, (_, i) => i), ...Array.from({ length: 30 }, (_, i) => 100 + i)];
  assert.deepEqual([...(state.entries as number[])].sort((x, y) => x - y), expected, 'each operation applied exactly once');
  const fromClient = (state.entries as number[]).filter((n) => n >= 100);
  assert.deepEqual(fromClient, [...fromClient].sort((x, y) => x - y));
  assertOneAtATime(state.spans);
  await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
});

it('a worker killed mid-turn: the operations run again on the other worker, each recorded once, and the waiting caller is answered', async () => {
  const marker = join(dir, 'crashed-once');
  const first = worker();
  await waitForOutput(first, /pg-taskhub started/);
  await api.client.entities.signal('Ledger', 'crash', 'append', '1');
  await until('the first append', async () => ((await ledger('crash'))?.entries.length === 1 ? true : undefined), 60_000);
  // The crashing operation and what comes after it, including a caller waiting for an answer.
  await api.client.entities.signal('Ledger', 'crash', 'crashOnce', JSON.stringify(marker));
  await api.client.entities.signal('Ledger', 'crash', 'append', '2');
  await api.client.start({ name: 'AppendsOnce', instanceId: 'after-crash', input: JSON.stringify({ key: 'crash', value: 3 }) });
  assert.equal(await first.exited, 'SIGKILL', 'the worker died in the operation');
  assert.ok(existsSync(marker));
  assert.deepEqual((await ledger('crash'))?.entries, [1], 'nothing of the crashed turn was committed');

  const second = worker();
  await waitForOutput(second, /pg-taskhub started/);
  const row = await waitForInstance(api, 'after-crash', undefined, 60_000);
  assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
  assert.equal(JSON.parse(row.output as string), 4, 'the caller got its position: after 1, the crashed operation and 2');
  const state = await ledger('crash');
  assert.deepEqual(state?.entries, [1, marker, 2, 3]);
  assertOneAtATime(state?.spans ?? []);
  const { rows } = await api.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox WHERE instance_id = '@ledger@crash'`);
  assert.equal(rows[0]?.n, 0, 'every operation consumed');
  await second.kill('SIGTERM');
});

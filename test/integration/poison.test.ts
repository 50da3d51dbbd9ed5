/**
 * An activity that crashes its worker every time is quarantined after TASKHUB_POISON_ATTEMPTS
 * deliveries: the instance fails with a clear reason instead of crashing workers forever.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { type ServerProcess, spawnServer } from '../helpers/process.ts';

let db: TestDatabase;
let api: TestHub;
const workers: ServerProcess[] = [];
const ENV = {
  TASKHUB_ROLE: 'worker',
  LOG_LEVEL: 'warn',
  TASKHUB_POISON_ATTEMPTS: '2',
  // A crashed delivery is given up after 1 s (pg-boss's monitor pass finds it within 5 s).
  TASKHUB_ACTIVITY_EXPIRE_SECONDS: '1',
  TASKHUB_SCHEDULES: 'false',
};

before(async () => {
  db = await createTestDatabase();
  api = await startTestHub({ db, env: { TASKHUB_ROLE: 'api', TASKHUB_POISON_ATTEMPTS: '2' } });
});
after(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await api?.close();
  await db?.drop();
});

it('quarantines an activity that kills its worker on every delivery', async () => {
  const started = await api.client.start({ name: 'CrashesItsWorker', input: undefined });
  const id = started.kind === 'created' ? started.instanceId : '';
  const deadline = Date.now() + 120_000;
  let crashes = 0;
  let row = await api.client.get(id);
  while (row?.runtimeStatus !== 'Failed' && Date.now() < deadline) {
    const worker = spawnServer({ ...ENV, DATABASE_URL: db.url }, ['--module', './test/fixtures/test-orchestrations.ts']);
    workers.push(worker);
    // Wait for this worker to die (it ran the poison) or the instance to fail (it quarantined it).
    while (worker.child.exitCode === null && worker.child.signalCode === null && Date.now() < deadline) {
      row = await api.client.get(id);
      if (row?.runtimeStatus === 'Failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (worker.child.signalCode === 'SIGKILL') crashes++;
    await worker.kill('SIGTERM');
    row = await api.client.get(id);
  }
  assert.equal(row?.runtimeStatus, 'Failed');
  assert.equal(row?.failure?.type, 'PoisonActivity');
  assert.match(row?.failure?.message ?? '', /quarantined: activity 'CrashWorker' \(task 0\) was delivered 2 times without finishing/);
  assert.equal(crashes, 2, 'two deliveries crashed a worker; the third was quarantined, not run');
});

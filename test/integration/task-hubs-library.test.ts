/**
 * The library form of task hubs: startTaskHub({ hubs, connections }) with a hub on a second
 * database whose workers this process does not run (worker: false, as an API-only process for it),
 * and a second process-like hub started as its worker (TASKHUB_ROLE=worker, TASKHUB_WORKER_HUBS).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startTaskHub, type TaskHub } from '../../src/taskhub.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { waitForInstance } from '../helpers/hub.ts';

function registry(): Registry {
  return new Registry()
    .activity('Echo', async (x: string) => `echo ${x}`)
    .orchestration('Echoes', function* (context) {
      return yield context.df.callActivity('Echo', context.df.getInput<string>());
    })
    .orchestration('Other', function* (context) {
      return yield context.df.callActivity('Echo', 'other');
    });
}

describe('startTaskHub({ hubs }): hubs of the library API', () => {
  let first: TestDatabase;
  let second: TestDatabase;
  let api: TaskHub | undefined;
  let worker: TaskHub | undefined;
  const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

  before(async () => {
    [first, second] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  });
  after(async () => {
    await worker?.stop();
    await api?.stop();
    await Promise.all([first?.drop(), second?.drop()]);
  });

  it('serves each hub with its own registry view; a hub with worker: false waits for a worker of its own', async () => {
    const config = loadConfig({ DATABASE_URL: first.url, LOG_LEVEL: 'silent', TASKHUB_POLL_INTERVAL_MS: '200' });
    api = await startTaskHub({
      config,
      log,
      registry: registry(),
      connectionString: first.url,
      listen: false,
      connections: { Second: second.url },
      hubs: [{ name: 'Alpha' }, { name: 'Beta', connection: 'second', orchestrations: ['Echoes'], worker: false }],
    });
    assert.deepEqual(api.hubs.map((h) => [h.name, h.connection, h.schema, h.worker]), [
      ['Alpha', 'Storage', 'taskhub_alpha', true],
      ['Beta', 'Second', 'taskhub_beta', false],
    ]);
    const [alpha, beta] = api.hubs as [TaskHub['hubs'][number], TaskHub['hubs'][number]];
    assert.equal(api.client, alpha.client, 'the default hub is the first when TASKHUB_NAME names none of them');
    await assert.rejects(beta.client.start({ name: 'Other', input: undefined }), /Other/);
    const a = await alpha.client.start({ name: 'Echoes', input: '"a"' });
    const b = await beta.client.start({ name: 'Echoes', input: '"b"' });
    assert.equal(a.kind, 'created');
    assert.equal(b.kind, 'created');
    const aId = a.kind === 'created' ? a.instanceId : '';
    const bId = b.kind === 'created' ? b.instanceId : '';
    assert.equal((await waitForInstance({ ...api, client: alpha.client }, aId)).output, '"echo a"');
    // Beta has no worker in this process: its instance stays Pending…
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await beta.client.get(bId))?.runtimeStatus, 'Pending');
    assert.equal(await alpha.client.get(bId), undefined);

    // …until a worker process for Beta (only) starts.
    // The same hubs in the environment's form this time.
    const workerConfig = loadConfig({
      DATABASE_URL: first.url,
      LOG_LEVEL: 'silent',
      TASKHUB_HUBS: 'Alpha,Beta:Second',
      TASKHUB_CONNECTION_SECOND: second.url,
      TASKHUB_HUB_BETA_ORCHESTRATIONS: 'Echoes',
      TASKHUB_ROLE: 'worker',
      TASKHUB_WORKER_HUBS: 'Beta',
      TASKHUB_POLL_INTERVAL_MS: '200',
    });
    worker = await startTaskHub({ config: workerConfig, log, registry: registry(), connectionString: first.url });
    assert.deepEqual(worker.hubs.map((h) => h.name), ['Beta'], 'a worker process opens only the hubs it works for');
    assert.equal((await waitForInstance({ ...api, client: beta.client }, bId)).output, '"echo b"');
  });
});

/** POST orchestrators/{functionName}[/{instanceId}]: the start route, against a real hub. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import { registerExamples } from '../../src/examples/index.ts';
import type { ExampleServices } from '../../src/examples/services.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { assertErrorBody, BASE, body, buildHttpApp, instanceIn, snapshot, uid } from './support.ts';

const MANAGEMENT_KEYS = [
  'id',
  'statusQueryGetUri',
  'sendEventPostUri',
  'terminatePostUri',
  'rewindPostUri',
  'purgeHistoryDeleteUri',
  'restartPostUri',
  'suspendPostUri',
  'resumePostUri',
];

describe('start', () => {
  let hub: TestHub;
  let app: App;
  const services: ExampleServices = { pool: undefined };

  before(async () => {
    // The shipped examples, plus single-instance orchestrations that wait (so that they stay active).
    const registry = registerExamples(new Registry(), services, { dataIngestSchedule: null })
      .orchestration('HttpHeldSingleton', { singleton: true, description: 'waits for Go' }, function* (context) {
        return yield context.df.waitForExternalEvent('Go');
      })
      .orchestration(
        'HttpPerTenant',
        { singleton: { key: (input) => String((input as { tenant?: string } | null)?.tenant ?? '') }, schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' } },
        function* (context) {
          return yield context.df.waitForExternalEvent('Go');
        },
      );
    hub = await startTestHub({ registry });
    services.pool = hub.pool;
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  const start = (path: string, payload?: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `${BASE}/orchestrators/${path}`, payload, headers });

  const status = async (id: string) => body(await app.inject({ method: 'GET', url: `${BASE}/instances/${encodeURIComponent(id)}` }));

  it('answers 202 with the management payload, Location and Retry-After, on the request origin', async () => {
    const res = await start('HelloSequence', undefined, { host: 'example.test:8080' });
    assert.equal(res.statusCode, 202);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    const payload = body(res);
    assert.deepEqual(Object.keys(payload), MANAGEMENT_KEYS);
    assert.match(payload.id, /^[0-9a-f]{32}$/);
    const instance = `http://example.test:8080/runtime/webhooks/durabletask/instances/${payload.id}`;
    assert.equal(payload.statusQueryGetUri, `${instance}?taskHub=TaskHub&connection=Storage`);
    assert.equal(payload.sendEventPostUri, `${instance}/raiseEvent/{eventName}?taskHub=TaskHub&connection=Storage`);
    assert.equal(payload.terminatePostUri, `${instance}/terminate?reason={text}&taskHub=TaskHub&connection=Storage`);
    assert.equal(res.headers.location, payload.statusQueryGetUri);
    assert.equal(res.headers['retry-after'], '10');
    const row = await waitForInstance(hub, payload.id);
    assert.equal(row.runtimeStatus, 'Completed');
    assert.equal(row.input, null, 'no body: input null');
  });

  it('uses the given instance ID and URL-encodes it in the URIs', async () => {
    const id = `order 42+${uid()}`;
    const res = await start(`HelloSequence/${encodeURIComponent(id)}`);
    assert.equal(res.statusCode, 202);
    const payload = body(res);
    assert.equal(payload.id, id);
    assert.ok(payload.statusQueryGetUri.includes(`/instances/${encodeURIComponent(id)}?`));
    assert.equal((await waitForInstance(hub, id)).runtimeStatus, 'Completed');
  });

  it('matches orchestrator names case-insensitively', async () => {
    const res = await start('hellosequence');
    assert.equal(res.statusCode, 202);
    assert.equal((await waitForInstance(hub, body(res).id)).name, 'HelloSequence');
  });

  it('takes the body as JSON whatever the Content-Type, and keeps it verbatim', async () => {
    const cases: Array<[string | undefined, Record<string, string>, unknown]> = [
      ['""', { 'content-type': 'application/json' }, ''],
      ['{"a":[1,2]}', { 'content-type': 'text/plain' }, { a: [1, 2] }],
      ['{"a":1}', {}, { a: 1 }],
      ['7', { 'content-type': 'not a media type' }, 7],
      ['null', { 'content-type': 'application/json; charset=utf-8' }, null],
      ['', { 'content-type': 'application/json' }, null],
    ];
    for (const [payload, headers, expected] of cases) {
      const res = await start('Approval', payload, headers);
      assert.equal(res.statusCode, 202, `${payload} ${JSON.stringify(headers)}: ${res.body}`);
      assert.deepEqual((await status(body(res).id)).input, expected);
      await hub.client.terminate(body(res).id, 'done');
    }
    const big = '{"b":1,"2":0,"n":12345678901234567890}';
    const res = await start('Approval', big, { 'content-type': 'application/json' });
    const text = (await app.inject({ method: 'GET', url: `${BASE}/instances/${body(res).id}` })).body;
    assert.ok(text.includes(`"input":${big}`), text);
    await hub.client.terminate(body(res).id, 'done');
  });

  it('refuses a body that is not JSON, an unknown orchestrator, and invalid IDs with 400, and writes nothing', async () => {
    const before = await snapshot(hub);
    assertErrorBody(await start('HelloSequence', '{"a":', { 'content-type': 'application/json' }), 400, 'INVALID_JSON');
    assertErrorBody(await start('HelloSequence', 'hello', { 'content-type': 'text/plain' }), 400, 'INVALID_JSON');
    const unknown = assertErrorBody(await start('NoSuchThing'), 400, 'UNKNOWN_ORCHESTRATOR');
    assert.match(unknown.Message, /^The function 'NoSuchThing' doesn't exist/);
    for (const bad of ['%40x', 'a%2Fb', 'a%5Cb', 'a%23b', 'a%3Fb', 'a%01b', 'a%7Fb', 'x'.repeat(257)]) {
      assertErrorBody(await start(`HelloSequence/${bad}`), 400, 'INVALID_INSTANCE_ID');
    }
    assert.deepEqual(await snapshot(hub), before);
  });

  it('accepts an ID of exactly 256 characters', async () => {
    const id = 'y'.repeat(256);
    assert.equal((await start(`HelloSequence/${id}`)).statusCode, 202);
    assert.equal((await waitForInstance(hub, id)).runtimeStatus, 'Completed');
  });

  it('answers 409 with the DF message while an instance with that ID is active; replaces a terminal one', async () => {
    const active = await instanceIn(hub, 'active');
    const before = await snapshot(hub);
    const conflict = assertErrorBody(await start(`Approval/${active}`, '{}'), 409, 'INSTANCE_EXISTS');
    assert.equal(conflict.Message, 'An Orchestration instance with the status Running already exists.');
    assert.deepEqual(await snapshot(hub), before);

    for (const state of ['completed', 'failed'] as const) {
      const id = await instanceIn(hub, state);
      const old = await hub.client.get(id);
      const res = await start(`Approval/${id}`, '{"timeoutSeconds":3600}');
      assert.equal(res.statusCode, 202, res.body);
      const now = await hub.client.get(id);
      assert.equal(now?.name, 'Approval');
      assert.notEqual(now?.executionId, old?.executionId, 'a new execution');
      await hub.client.terminate(id, 'done');
    }
  });

  describe('single-instance orchestrations', () => {
    it('answers 409 with the holder, its status, its statusQueryGetUri and a Location; nothing is written', async () => {
      const first = await start('HttpHeldSingleton');
      assert.equal(first.statusCode, 202);
      const holder = body(first).id;
      // Its first turn done (it waits for Go): nothing else changes rows while we look.
      await waitForInstance(hub, holder, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
      const before = await snapshot(hub);
      const res = await start('HttpHeldSingleton', undefined, { host: 'api.test' });
      const err = assertErrorBody(res, 409, 'SINGLETON_ACTIVE');
      assert.equal((err as any).instanceId, holder);
      assert.equal((err as any).runtimeStatus, 'Running');
      const uri = `http://api.test/runtime/webhooks/durabletask/instances/${holder}?taskHub=TaskHub&connection=Storage`;
      assert.equal((err as any).statusQueryGetUri, uri);
      assert.equal(res.headers.location, uri);
      assert.deepEqual(await snapshot(hub), before);
    });

    it('onConflict=useExisting answers 200 with the active instance\'s management payload', async () => {
      const holder = (await hub.pool.query(`SELECT instance_id FROM instances WHERE name = 'HttpHeldSingleton' AND runtime_status IN ('Pending','Running')`)).rows[0]
        ?.instance_id as string;
      const res = await start('HttpHeldSingleton?onConflict=useExisting');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(body(res)), MANAGEMENT_KEYS);
      assert.equal(body(res).id, holder);
    });

    it('onConflict=terminateExisting terminates the holder and starts the new one', async () => {
      const res = await start('HttpHeldSingleton?ONCONFLICT=terminateExisting');
      assert.equal(res.statusCode, 202, res.body);
      const rows = (await hub.pool.query(`SELECT instance_id, runtime_status FROM instances WHERE name = 'HttpHeldSingleton' ORDER BY created_at`)).rows;
      assert.equal(rows.length, 2);
      assert.equal(rows[0].runtime_status, 'Terminated');
      assert.equal(rows[1].instance_id, body(res).id);
      await hub.client.terminate(body(res).id, 'done');
    });

    it('keyed: one active instance per key', async () => {
      const a = await start('HttpPerTenant', '{"tenant":"a"}');
      assert.equal(a.statusCode, 202);
      assert.equal((await start('HttpPerTenant', '{"tenant":"b"}')).statusCode, 202);
      const again = assertErrorBody(await start('HttpPerTenant', '{"tenant":"a"}'), 409, 'SINGLETON_ACTIVE');
      assert.equal((again as any).instanceId, body(a).id);
    });

    it('DataIngest is single-instance', async () => {
      const first = await start('DataIngest', '{"sources":3000}');
      assert.equal(first.statusCode, 202);
      await hub.client.suspend(body(first).id, 'hold the slot');
      const err = assertErrorBody(await start('DataIngest', '{"sources":1}'), 409, 'SINGLETON_ACTIVE');
      assert.equal((err as any).instanceId, body(first).id);
      assert.equal((err as any).runtimeStatus, 'Suspended');
      await hub.client.terminate(body(first).id, 'done');
    });

    it('an unknown onConflict is a 400', async () => {
      assertErrorBody(await start('HttpHeldSingleton?onConflict=replace'), 400, 'VALIDATION');
    });
  });

  describe('wait mode', () => {
    it('answers 200 with the output only when the instance completes in time', async () => {
      const res = await start('HelloSequence?timeout=30&pollingInterval=0.05');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.deepEqual(body(res), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    });

    it('answers with the status response when the instance fails in time (500 on request)', async () => {
      const res = await start('RewindDemo?timeout=30&pollingInterval=0.05');
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(body(res).runtimeStatus, 'Failed');
      assert.match(body(res).output, /FailOnce fails/);
      const strict = await start('RewindDemo?timeout=30&pollingInterval=0.05&returnInternalServerErrorOnFailure=true');
      assert.equal(strict.statusCode, 500, strict.body);
      assert.equal(body(strict).runtimeStatus, 'Failed');
    });

    it('answers with the status response when the instance is terminated in time', async () => {
      const id = uid('waited');
      const pending = start(`Approval/${id}?timeout=30&pollingInterval=0.05`, '{"timeoutSeconds":3600}');
      await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
      await hub.client.terminate(id, 'stop waiting');
      const res = await pending;
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(body(res).runtimeStatus, 'Terminated');
      assert.equal(body(res).output, 'stop waiting');
    });

    it('answers the 202 start response when the time is up', async () => {
      const t0 = Date.now();
      const res = await start('Approval?timeout=0.3&pollingInterval=0.1', '{"timeoutSeconds":3600}');
      assert.ok(Date.now() - t0 >= 290, 'it waited');
      assert.equal(res.statusCode, 202);
      assert.equal(res.headers.location, body(res).statusQueryGetUri);
      await hub.client.terminate(body(res).id, 'done');
    });

    it('does not wait unless both timeout and pollingInterval are given', async () => {
      const res = await start('Approval?timeout=5', '{"timeoutSeconds":3600}');
      assert.equal(res.statusCode, 202);
      await hub.client.terminate(body(res).id, 'done');
    });

    it('pollingInterval > timeout is a 400 and starts nothing', async () => {
      const before = await snapshot(hub);
      assertErrorBody(await start('HelloSequence?timeout=1&pollingInterval=2'), 400, 'VALIDATION');
      assertErrorBody(await start('HelloSequence?timeout=-1&pollingInterval=0'), 400, 'VALIDATION');
      assertErrorBody(await start('HelloSequence?timeout=abc&pollingInterval=1'), 400, 'VALIDATION');
      assert.deepEqual(await snapshot(hub), before);
    });
  });

  it('GET orchestrators lists the registered orchestrations with their options', async () => {
    const res = await app.inject({ method: 'GET', url: `${BASE}/orchestrators` });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    const list = body<Array<{ name: string }>>(res);
    const byName = Object.fromEntries(list.map((o) => [o.name, o]));
    assert.deepEqual(byName.HelloSequence, {
      name: 'HelloSequence',
      description: 'SayHello on Tokyo, Seattle and London, in sequence',
      singleton: false,
      schedule: null,
    });
    assert.deepEqual(byName.DataIngest, {
      name: 'DataIngest',
      description: 'Daily scrape-and-load of every source; single-instance',
      singleton: true,
      schedule: null,
    });
    assert.deepEqual(byName.HttpPerTenant, { name: 'HttpPerTenant', description: null, singleton: 'keyed', schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' } });
    assert.deepEqual(
      list.map((o) => o.name),
      hub.registry.listOrchestrations().map((o) => o.name),
    );
  });

  it('GET schedules lists the registered schedules with their next run', async () => {
    const res = await app.inject({ method: 'GET', url: `${BASE}/schedules` });
    assert.equal(res.statusCode, 200, res.body);
    const schedule = body<Array<Record<string, unknown>>>(res).find((s) => s.name === 'HttpPerTenant');
    assert.ok(schedule, res.body);
    assert.equal(schedule.cron, '0 3 * * *');
    assert.equal(schedule.timezone, 'Europe/Paris');
    assert.ok(new Date(schedule.nextRunTime as string).getTime() > Date.now());
    assert.equal(schedule.startedCount, 0);
    assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/schedules?taskHub=Elsewhere` }), 404, 'TASK_HUB_NOT_FOUND');
  });
});

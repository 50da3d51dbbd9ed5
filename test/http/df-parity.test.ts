/**
 * The codes and bodies Durable Functions' own clients read (issue 15): error bodies with
 * `ExceptionMessage` (the Python client), rewind's 410, purge of an active instance, restart's
 * wait mode and unknown id, the Functions host's RPC path `/durabletask/`, and history rows
 * without task numbers. Driven by the official JavaScript client (durable-functions 3.5) over real
 * HTTP, configured as a Functions host configures it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import type { InjectOptions } from 'fastify';
import type { App } from '../../src/app.ts';
import type { ExampleServices } from '../../src/examples/services.ts';
import { testRegistry } from '../fixtures/test-orchestrations.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { assertErrorBody, BASE, body, buildHttpApp, instanceIn, uid } from './support.ts';

/** A DurableClient as getClient builds it inside a function, from the binding data of the host. */
function durableClient(rpcBaseUrl: string): df.DurableClient {
  const binding = df.input.durableClient();
  const clientData = { taskHubName: 'TaskHub', creationUrls: {}, managementUrls: {}, baseUrl: rpcBaseUrl, requiredQueryStringParameters: '', rpcBaseUrl };
  const context = { options: { extraInputs: [binding] }, extraInputs: { get: () => clientData } };
  return df.getClient(context as unknown as Parameters<typeof df.getClient>[0]);
}

describe('Durable Functions parity: codes, bodies, the RPC path', () => {
  let hub: TestHub;
  let app: App;
  let origin: string;
  /** The client as a Functions host hands it out: rpcBaseUrl on the host's /durabletask/ path. */
  let client: df.DurableClient;
  before(async () => {
    // The examples' activities (RewindDemo's FailOnce) reach the database through services.pool.
    const services: ExampleServices = { pool: undefined };
    const registry = testRegistry(services)
      .orchestration('WaitingChild', function* (context) {
        return yield context.df.waitForExternalEvent('Never');
      })
      .orchestration('ParentOfWaiting', function* (context) {
        try {
          return yield context.df.callSubOrchestrator('WaitingChild', null, `${context.df.instanceId}-child`);
        } catch (err) {
          return `child ended: ${(err as Error).message}`;
        }
      });
    hub = await startTestHub({ registry });
    services.pool = hub.pool;
    app = await buildHttpApp(hub);
    origin = await app.listen({ host: '127.0.0.1', port: 0 });
    client = durableClient(`${origin}/durabletask/`);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('the JS client on /durabletask/: start, status, events, terminate, listing, purge', async () => {
    const id = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    assert.equal((await client.getStatus(id)).customStatus, 'waiting for approval');
    await client.raiseEvent(id, 'Approval', true);
    await waitForInstance(hub, id);
    assert.equal((await client.getStatus(id)).output, 'approved');
    const other = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    await client.terminate(other, 'enough');
    assert.equal((await client.getStatus(other)).runtimeStatus, df.OrchestrationRuntimeStatus.Terminated);
    const listed = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Terminated] });
    assert.ok(listed.some((s) => s.instanceId === other));
    assert.equal((await client.purgeInstanceHistory(other)).instancesDeleted, 1);
  });

  it('purge of a running instance through the JS client: terminated and purged (200), not refused', async () => {
    const id = await instanceIn(hub, 'active');
    assert.equal((await client.purgeInstanceHistory(id)).instancesDeleted, 1);
    assert.equal(await hub.client.get(id), undefined);
    await assert.rejects(client.getStatus(id), /404/);
  });

  it('purge of an active sub-orchestration: its parent is told it ended, as with terminate (nothing left waiting)', async () => {
    const parent = uid('parent');
    await hub.client.start({ name: 'ParentOfWaiting', instanceId: parent, input: undefined });
    const child = `${parent}-child`;
    await waitForInstance(hub, child, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    const res = await app.inject({ method: 'DELETE', url: `/durabletask/instances/${child}` });
    assert.equal(res.statusCode, 200, res.body);
    const row = await waitForInstance(hub, parent);
    assert.equal(row.runtimeStatus, 'Completed');
    assert.match(JSON.parse(row.output as string), /child ended: .*was terminated: purged while active/);
    assert.equal(await hub.client.get(child), undefined);
  });

  it('rewind of a Completed instance: 410, and the JS client error says why (not [object Object])', async () => {
    const id = await instanceIn(hub, 'completed');
    await assert.rejects(client.rewind(id, 'again'), (err: Error) => {
      assert.match(err.message, /unexpected status code: 410/);
      assert.match(err.message, /Only failed orchestration instances can be rewound/);
      return true;
    });
    const failed = await instanceIn(hub, 'failed');
    await client.rewind(failed, 'fixed');
    assert.equal((await waitForInstance(hub, failed)).runtimeStatus, 'Completed');
  });

  it('a Python-client-shaped start of an unknown orchestrator finds ExceptionMessage in the 400 body', async () => {
    // azure-functions-durable (Python) start_new: on a 400 it raises Exception(body["ExceptionMessage"]).
    for (const base of [BASE, '/durabletask']) {
      const res = await fetch(`${origin}${base}/orchestrators/NoSuchOrchestrator`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: 'null',
      });
      assert.equal(res.status, 400);
      const data = (await res.json()) as Record<string, unknown>;
      assert.equal(data.ExceptionMessage, "The function 'NoSuchOrchestrator' doesn't exist, is disabled, or is not an orchestrator function.");
      assert.equal(data.Message, data.ExceptionMessage);
      assert.equal(data.ExceptionType, 'PgTaskHub.UnknownOrchestratorException');
      assert.equal(data.StackTrace, '');
      assert.equal(data.code, 'UNKNOWN_ORCHESTRATOR');
    }
  });

  it('every error body has the Durable Functions fields: routing 404, 405, validation, 409, 410, 412', async () => {
    const active = await instanceIn(hub, 'active');
    const completed = await instanceIn(hub, 'completed');
    const cases: Array<[InjectOptions, number]> = [
      [{ method: 'GET', url: '/durabletask/nowhere' }, 404],
      [{ method: 'PUT', url: `/durabletask/instances/${active}` }, 405],
      [{ method: 'GET', url: `${BASE}/instances?top=0` }, 400],
      [{ method: 'POST', url: `${BASE}/orchestrators/Approval/${active}` }, 409],
      [{ method: 'POST', url: `/durabletask/instances/${completed}/terminate` }, 410],
      [{ method: 'POST', url: `${BASE}/instances/${active}/rewind` }, 412],
    ];
    for (const [request, status] of cases) assertErrorBody(await app.inject(request), status);
    await hub.client.terminate(active, 'cleanup');
  });

  it('/durabletask is an alias: same answers, the key guards it, management URIs point at the webhook path', async () => {
    const started = await app.inject({ method: 'POST', url: '/durabletask/orchestrators/HelloSequence', headers: { host: 'h.test' } });
    assert.equal(started.statusCode, 202);
    const payload = body(started);
    assert.equal(payload.statusQueryGetUri, `http://h.test${BASE}/instances/${payload.id}?taskHub=TaskHub&connection=Storage`);
    await waitForInstance(hub, payload.id);
    const viaAlias = await app.inject({ method: 'GET', url: `/durabletask/instances/${payload.id}` });
    const viaWebhook = await app.inject({ method: 'GET', url: `${BASE}/instances/${payload.id}` });
    assert.equal(viaAlias.statusCode, 200);
    assert.equal(viaAlias.body, viaWebhook.body);
    assert.equal((await app.inject({ method: 'GET', url: '/DurableTask/Instances/nope/' })).statusCode, 404);

    const keyed = await buildHttpApp(hub, { TASKHUB_KEY: 'parity-key-1' });
    try {
      assert.equal((await keyed.inject({ method: 'GET', url: '/durabletask/instances' })).statusCode, 401);
      assert.equal((await keyed.inject({ method: 'GET', url: '/durabletask/instances', headers: { 'x-functions-key': 'parity-key-1' } })).statusCode, 200);
    } finally {
      await keyed.close();
    }
  });

  it('the OpenAPI document describes each route once, under the webhook path, and names the alias', async () => {
    const doc = app.swagger() as { info: { description: string }; paths: Record<string, unknown> };
    const paths = Object.keys(doc.paths);
    assert.ok(paths.length > 10);
    assert.deepEqual(paths.filter((p) => p.toLowerCase().startsWith('/durabletask')), []);
    assert.match(doc.info.description, /\/durabletask\//);
  });

  it('restart: wait mode answers 200 with the output, or the status of a failed run; pollingInterval > timeout is a 400', async () => {
    const done = await instanceIn(hub, 'completed');
    const res = await app.inject({ method: 'POST', url: `/durabletask/instances/${done}/restart?timeout=30&pollingInterval=0.05` });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(body(res), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);

    const failed = await instanceIn(hub, 'failed'); // RewindDemo fails on the first execution of each instance
    const again = await app.inject({ method: 'POST', url: `${BASE}/instances/${failed}/restart?timeout=30&pollingInterval=0.05` });
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(body(again).runtimeStatus, 'Failed');
    assert.notEqual(body(again).instanceId, failed);

    assertErrorBody(await app.inject({ method: 'POST', url: `${BASE}/instances/${done}/restart?timeout=1&pollingInterval=2` }), 400, 'VALIDATION');
    const quick = await app.inject({ method: 'POST', url: `${BASE}/instances/${done}/restart?timeout=0&pollingInterval=0` });
    assert.equal(quick.statusCode, 202, 'no time to wait: the start response');
    await waitForInstance(hub, body(quick).id);
  });

  it('restart of an unknown id: 400 "InstanceId does not match a valid orchestration instance", as Durable Functions answers', async () => {
    const res = await fetch(`${origin}/durabletask/instances/${uid('never')}/restart`, { method: 'POST' });
    assert.equal(res.status, 400);
    const data = (await res.json()) as Record<string, string>;
    assert.match(data.ExceptionMessage as string, /^InstanceId does not match a valid orchestration instance/);
    assert.equal(data.code, 'UNKNOWN_INSTANCE');
  });

  it('history rows carry no task numbers (no TaskScheduledId, TimerId or EventId), as the extension shows them', async () => {
    const id = uid('shape');
    await hub.client.start({ name: 'HelloSequence', instanceId: id, input: undefined });
    await waitForInstance(hub, id);
    const status = await client.getStatus(id, { showHistory: true, showHistoryOutput: true });
    assert.equal(status.runtimeStatus, df.OrchestrationRuntimeStatus.Completed);
    const res = await app.inject({ method: 'GET', url: `/durabletask/instances/${id}?showHistory=true&showHistoryOutput=true` });
    const events = body(res).historyEvents as Array<Record<string, unknown>>;
    const completed = events.filter((e) => e.EventType === 'TaskCompleted');
    assert.equal(completed.length, 3);
    assert.deepEqual(Object.keys(completed[0] as object), ['EventType', 'Timestamp', 'FunctionName', 'ScheduledTime', 'Input', 'Result']);
    for (const e of events) for (const key of ['TaskScheduledId', 'TimerId', 'EventId']) assert.equal(key in e, false, JSON.stringify(e));
  });
});

/**
 * The official Durable Functions JavaScript client (npm durable-functions 3.5), pointed at this
 * service over real HTTP (rpcBaseUrl, as a client without a Functions host uses it): every call
 * it makes must be understood, and every answer accepted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import type { App } from '../../src/app.ts';
import { durableClientContext } from '../../src/client/durable-functions.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { buildHttpApp, instanceIn, uid } from './support.ts';

/** A DurableClient as getClient builds it inside a function, from the binding data of the host. */
function durableClient(rpcBaseUrl: string): df.DurableClient {
  const binding = df.input.durableClient();
  const clientData = { taskHubName: 'TaskHub', creationUrls: {}, managementUrls: {}, baseUrl: rpcBaseUrl, requiredQueryStringParameters: '', rpcBaseUrl };
  const context = { options: { extraInputs: [binding] }, extraInputs: { get: () => clientData } };
  return df.getClient(context as unknown as Parameters<typeof df.getClient>[0]);
}

describe('the official JavaScript client', () => {
  let hub: TestHub;
  let app: App;
  let client: df.DurableClient;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    client = durableClient(`${address}/runtime/webhooks/durabletask/`);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('startNew, getStatus and raiseEvent', async () => {
    const id = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    assert.match(id, /^[0-9a-f]{32}$/);
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    const running = await client.getStatus(id);
    assert.equal(running.runtimeStatus, df.OrchestrationRuntimeStatus.Running);
    assert.deepEqual(running.input, { timeoutSeconds: 3600 });
    assert.equal(running.customStatus, 'waiting for approval');
    await client.raiseEvent(id, 'Approval', true);
    await waitForInstance(hub, id);
    const done = await client.getStatus(id, { showHistory: true, showHistoryOutput: true });
    assert.equal(done.runtimeStatus, df.OrchestrationRuntimeStatus.Completed);
    assert.equal(done.output, 'approved');
    assert.equal(done.name, 'Approval');
    assert.ok(done.createdTime instanceof Date && !Number.isNaN(done.createdTime.getTime()));
    // The client reads `history` from the payload, which Durable Functions (and the contract) call
    // historyEvents: with either server its `history` stays undefined.
  });

  it('startNew with an instance ID and without input (the client sends "")', async () => {
    const id = uid('js');
    assert.equal(await client.startNew('HelloSequence', { instanceId: id }), id);
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Completed');
    assert.equal((await client.getStatus(id)).input, '');
  });

  it('getStatus of an unknown instance rejects', async () => {
    await assert.rejects(client.getStatus(uid('missing')), /404/);
  });

  it('terminate, suspend and resume; terminal instances are accepted (410)', async () => {
    const id = await instanceIn(hub, 'active');
    await client.suspend(id, 'pause');
    assert.equal((await client.getStatus(id)).runtimeStatus, df.OrchestrationRuntimeStatus.Suspended);
    await client.resume(id, 'go');
    assert.equal((await client.getStatus(id)).runtimeStatus, df.OrchestrationRuntimeStatus.Running);
    await client.terminate(id, 'stop');
    const status = await client.getStatus(id);
    assert.equal(status.runtimeStatus, df.OrchestrationRuntimeStatus.Terminated);
    assert.equal(status.output, 'stop');
    await client.terminate(id, 'again');
    await client.suspend(id, 'again');
    await client.raiseEvent(id, 'Approval', true);
  });

  it('rewind a failed instance', async () => {
    const id = await instanceIn(hub, 'failed');
    await client.rewind(id, 'try again');
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Completed');
  });

  it('getStatusBy follows continuation tokens to the end (more than one page of 100)', async () => {
    const ids = await Promise.all(Array.from({ length: 130 }, () => uid('many')).map(async (id) => {
      await hub.client.start({ name: 'Countdown', instanceId: id, input: '0' });
      return id;
    }));
    for (const id of ids) await waitForInstance(hub, id);
    const all = await client.getStatusBy({ runtimeStatus: [df.OrchestrationRuntimeStatus.Completed] });
    const listed = new Set(all.map((s) => s.instanceId));
    assert.equal(listed.size, all.length, 'no duplicates');
    for (const id of ids) assert.ok(listed.has(id), id);
    const everything = await client.getStatusAll();
    assert.equal(everything.length, Number((await hub.pool.query('SELECT count(*) AS n FROM instances')).rows[0].n));
  });

  it('purgeInstanceHistory and purgeInstanceHistoryBy', async () => {
    const id = await instanceIn(hub, 'completed');
    assert.equal((await client.purgeInstanceHistory(id)).instancesDeleted, 1);
    assert.equal((await client.purgeInstanceHistory(id)).instancesDeleted, 0, 'a 404 is 0 deleted');
    const from = new Date();
    const a = await instanceIn(hub, 'completed');
    const b = await instanceIn(hub, 'failed');
    const result = await client.purgeInstanceHistoryBy({
      createdTimeFrom: from,
      createdTimeTo: new Date(),
      runtimeStatus: [df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed],
    });
    assert.equal(result.instancesDeleted, 2);
    assert.equal(await hub.client.get(a), undefined);
    assert.equal(await hub.client.get(b), undefined);
  });
});

/**
 * The recipe of the README: durableClientContext (pg-taskhub/client) fills the binding data as a
 * Functions host would, so the management methods answer real URLs, and a keyed server works too.
 */
describe('the official JavaScript client with durableClientContext', () => {
  let hub: TestHub;
  let keyed: App;
  let open: App;
  let keyedUrl: string;
  let openUrl: string;
  const key = 'js-client-key';
  const hostname = process.env.WEBSITE_HOSTNAME;
  before(async () => {
    hub = await startTestHub();
    keyed = await buildHttpApp(hub, { TASKHUB_KEY: key });
    keyedUrl = await keyed.listen({ host: '127.0.0.1', port: 0 });
    open = await buildHttpApp(hub);
    openUrl = await open.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    if (hostname === undefined) delete process.env.WEBSITE_HOSTNAME;
    else process.env.WEBSITE_HOSTNAME = hostname;
    await keyed?.close();
    await open?.close();
    await hub?.close();
  });

  const clientFor = (url: string, options: { key?: string } = {}): df.DurableClient => {
    process.env.WEBSITE_HOSTNAME = new URL(url).host;
    return df.getClient(durableClientContext(url, options) as never);
  };

  it('with the key: every call sends it; createHttpManagementPayload is the server\'s own payload', async () => {
    const client = clientFor(keyedUrl, { key });
    const id = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    assert.equal((await client.getStatus(id)).runtimeStatus, df.OrchestrationRuntimeStatus.Running);
    const payload = client.createHttpManagementPayload(id);
    const served = await fetch(`${keyedUrl}/runtime/webhooks/durabletask/orchestrators/HelloSequence`, { method: 'POST', headers: { 'x-functions-key': key } });
    const shape = (await served.json()) as Record<string, string>;
    const other = shape.id as string;
    // The same nine URIs, key included, as the server's own answer to a start.
    assert.deepEqual(Object.keys(payload).sort(), Object.keys(shape).sort());
    for (const [name, uri] of Object.entries(shape)) assert.equal((payload as unknown as Record<string, string>)[name], uri.replaceAll(other, id), name);
    assert.match(payload.statusQueryGetUri, /&code=js-client-key$/);
    // The URIs work as given: status with the key from the URI only.
    assert.equal((await fetch(payload.statusQueryGetUri)).status, 202);
    await client.raiseEvent(id, 'Approval', true);
    await waitForInstance(hub, id);
    assert.equal((await client.getStatus(id)).output, 'approved');
    await client.terminate(await client.startNew('Approval'), 'stop');
    assert.equal((await client.purgeInstanceHistory(id)).instancesDeleted, 1);
  });

  it('createCheckStatusResponse: 202, Location and the payload, on the request\'s origin', async () => {
    const client = clientFor(keyedUrl, { key });
    const id = await client.startNew('HelloSequence');
    const response = client.createCheckStatusResponse({ url: `${keyedUrl}/api/start` } as never, id);
    assert.equal(response.status, 202);
    const body = (await response.json()) as Record<string, string>;
    assert.equal(response.headers.get('location'), body.statusQueryGetUri);
    assert.equal(body.id, id);
    assert.ok(body.statusQueryGetUri?.startsWith(`${keyedUrl}/runtime/webhooks/durabletask/instances/${id}?`), body.statusQueryGetUri);
    const waited = await client.waitForCompletionOrCreateCheckStatusResponse({ url: `${keyedUrl}/api/start` } as never, id, { timeoutInMilliseconds: 30_000, retryIntervalInMilliseconds: 100 });
    assert.equal(waited.status, 200);
    assert.deepEqual(await waited.json(), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
  });

  it('without a key: the rpc mode, and the management payload is filled too', async () => {
    const client = clientFor(openUrl);
    const id = await client.startNew('HelloSequence');
    await waitForInstance(hub, id);
    assert.equal((await client.getStatus(id)).runtimeStatus, df.OrchestrationRuntimeStatus.Completed);
    const payload = client.createHttpManagementPayload(id);
    assert.equal(payload.statusQueryGetUri, `${openUrl}/runtime/webhooks/durabletask/instances/${id}?taskHub=TaskHub&connection=Storage`);
    assert.equal((await fetch(payload.statusQueryGetUri)).status, 200);
  });

  it('WEBSITE_HOSTNAME unset: durable-functions rewrites every URL to http://localhost:7071', () => {
    delete process.env.WEBSITE_HOSTNAME;
    const client = df.getClient(durableClientContext(openUrl) as never);
    assert.ok(client.createHttpManagementPayload('x').statusQueryGetUri.startsWith('http://localhost:7071/runtime/webhooks/durabletask/instances/x?'));
  });
});

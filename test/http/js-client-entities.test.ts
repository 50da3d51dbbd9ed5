/**
 * The official Durable Functions JavaScript client (durable-functions 3.5) and entities, over real
 * HTTP, in every binding mode the other client tests use: rpcBaseUrl on the webhook path,
 * rpcBaseUrl on the Functions host's /durabletask/ path, and durableClientContext (the README
 * recipe) with a key (URL templates with code=…) and without (rpc). Every client method that
 * touches entities: signalEntity (with and without input) and readEntityState (existing, missing).
 *
 * What the client checks: outside rpc mode it builds entity URLs from the binding data's `baseUrl`
 * and `requiredQueryStringParameters`, and refuses ("Cannot use the readEntityState API with this
 * version of the Durable Task Extension") when either is empty. durableClientContext fills both in
 * the templates mode (`code=<key>`), and uses rpcBaseUrl without a key, so the check never fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import type { App } from '../../src/app.ts';
import { durableClientContext } from '../../src/client/durable-functions.ts';
import { startTestHub, type TestHub, until } from '../helpers/hub.ts';
import { buildHttpApp, uid } from './support.ts';

/** A DurableClient as getClient builds it inside a function, from a host's binding data in rpc mode. */
function rpcClient(rpcBaseUrl: string): df.DurableClient {
  const binding = df.input.durableClient();
  const clientData = { taskHubName: 'TaskHub', creationUrls: {}, managementUrls: {}, baseUrl: rpcBaseUrl, requiredQueryStringParameters: '', rpcBaseUrl };
  const context = { options: { extraInputs: [binding] }, extraInputs: { get: () => clientData } };
  return df.getClient(context as unknown as Parameters<typeof df.getClient>[0]);
}


describe('the official JavaScript client: signalEntity and readEntityState', () => {
  let hub: TestHub;
  let open: App;
  let keyed: App;
  let openUrl: string;
  let keyedUrl: string;
  const key = 'entity-client-key';
  const hostname = process.env.WEBSITE_HOSTNAME;
  before(async () => {
    hub = await startTestHub();
    open = await buildHttpApp(hub);
    openUrl = await open.listen({ host: '127.0.0.1', port: 0 });
    keyed = await buildHttpApp(hub, { TASKHUB_KEY: key });
    keyedUrl = await keyed.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    if (hostname === undefined) delete process.env.WEBSITE_HOSTNAME;
    else process.env.WEBSITE_HOSTNAME = hostname;
    await open?.close();
    await keyed?.close();
    await hub?.close();
  });

  const modes: Array<[string, () => df.DurableClient]> = [
    ['rpcBaseUrl on /runtime/webhooks/durabletask/', () => rpcClient(`${openUrl}/runtime/webhooks/durabletask/`)],
    ['rpcBaseUrl on the host path /durabletask/', () => rpcClient(`${openUrl}/durabletask/`)],
    [
      'durableClientContext with a key (URL templates, code=…)',
      () => {
        process.env.WEBSITE_HOSTNAME = new URL(keyedUrl).host;
        return df.getClient(durableClientContext(keyedUrl, { key }) as never);
      },
    ],
    [
      'durableClientContext without a key (rpc)',
      () => {
        process.env.WEBSITE_HOSTNAME = new URL(openUrl).host;
        return df.getClient(durableClientContext(openUrl) as never);
      },
    ],
  ];

  for (const [mode, make] of modes) {
    it(`${mode}: signalEntity with and without input, readEntityState of an entity and of a missing one`, async () => {
      const client = make();
      const entity = new df.EntityId('Counter', uid('js'));
      const missing = await client.readEntityState<number>(entity);
      assert.equal(missing.entityExists, false);
      assert.equal(missing.entityState, undefined);
      await client.signalEntity(entity, 'add', 5);
      await client.signalEntity(entity, 'add', 2);
      const seven = await until('7', async () => {
        const r = await client.readEntityState<number>(entity);
        return r.entityExists && r.entityState === 7 ? r : undefined;
      });
      assert.deepEqual({ ...seven }, { entityExists: true, entityState: 7 });
      await client.signalEntity(entity, 'add'); // no input: add 1
      await until('8', async () => ((await client.readEntityState<number>(entity)).entityState === 8 ? true : undefined));
      await client.signalEntity(entity, 'reset');
      await until('0', async () => ((await client.readEntityState<number>(entity)).entityState === 0 ? true : undefined));
      // The built-in delete (DELETE /entities/… sends the same): the entity no longer exists.
      await client.signalEntity(entity, 'delete');
      await until('deleted', async () => ((await client.readEntityState<number>(entity)).entityExists ? undefined : true));
      // A signal the server refuses is an error carrying its message.
      await assert.rejects(client.signalEntity(new df.EntityId('Nobody', 'k'), 'add', 1), /400|doesn't exist/);
    });
  }

  it('an orchestration started by the client calls the entity the client signals (CountTo)', async () => {
    const client = modes[0]?.[1]() as df.DurableClient;
    const k = uid('count');
    await client.signalEntity(new df.EntityId('Counter', k), 'add', 10);
    const id = await client.startNew('CountTo', { input: { key: k, amounts: [1, 2] } });
    const done = await until('CountTo', async () => {
      const s = await client.getStatus(id);
      return s.runtimeStatus === df.OrchestrationRuntimeStatus.Completed ? s : undefined;
    });
    assert.equal(done.output, 13);
    // Entities are not listed as instances.
    const all = await client.getStatusAll();
    assert.ok(all.every((s) => !s.instanceId.startsWith('@')));
  });
});

/**
 * pg-taskhub/durable-functions against a real hub: what is refused at registration (with the shape
 * expected), what fails clearly at call time (entities, callHttp's managed identity, bindings:
 * not built or Azure only), and the InvocationContext members an activity gets. The samples themselves run end to end
 * in test/e2e/durable-functions-samples.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from '../../src/durable-functions/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { loadModules } from '../../src/server.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { ROOT } from '../helpers/process.ts';

describe('pg-taskhub/durable-functions: registration', () => {
  it('refuses what is not a handler, naming the shape it expects', () => {
    assert.throws(() => df.app.activity('NoHandler', {} as df.ActivityOptions), /df\.app\.activity\('NoHandler', …\) needs \{ handler: async \(input, context\) => … \}; got an object with no keys/);
    assert.throws(() => df.app.orchestration('Num', 42 as unknown as df.OrchestrationHandler), /needs a generator function or \{ handler: function\* \(context\) \{…\} \}; got a number/);
    assert.equal(df.applyDurableFunctionsApp(new Registry()), 0, 'nothing refused was queued');
    // A bare function is taken too (v3's types ask for { handler }; plain JavaScript may not).
    df.app.activity('BareFunction', (async () => 1) as unknown as df.ActivityOptions);
    const registry = new Registry();
    assert.equal(df.applyDurableFunctionsApp(registry), 1);
    assert.ok(registry.getActivity('BareFunction'));
  });

  it('the native registry refuses the v3 shape at registration, pointing at the drop-in module', () => {
    const registry = new Registry();
    assert.throws(
      () => registry.activity('V3Shape', { handler: async () => 1 } as never),
      /activity 'V3Shape' needs a function: registry\.activity\(name, async \(input, context\) => …\).*got an object with handler.*pg-taskhub\/durable-functions/,
    );
    assert.throws(() => registry.orchestration('V3Orch', { handler: function* () {} } as never), /orchestration 'V3Orch' needs a generator function.*got an object with handler/);
    assert.equal(registry.getActivity('V3Shape'), undefined);
  });

  it('bindings and entities: a clear error at registration; client functions are accepted, not served, with a warning', () => {
    assert.throws(
      () => df.app.activity('WithOutput', { handler: async () => 1, extraOutputs: [{ type: 'blob' }] }),
      (err: Error) => err.name === 'NotSupportedError' && /extraOutputs \(Azure Functions bindings\) have no meaning outside Azure/.test(err.message),
    );
    assert.throws(() => df.app.entity('Counter', () => undefined), /df\.app\.entity\('Counter', …\) \(durable entities\) is not supported yet/);
    df.app.client.http('Starter', { route: 'x', handler: async () => ({}) });
    df.app.client.timer('Nightly', { schedule: '0 0 * * *', handler: async () => undefined });
    const warnings: string[] = [];
    assert.equal(df.applyDurableFunctionsApp(new Registry(), (m) => warnings.push(m)), 2);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] as string, /df\.app\.client\.http\('Starter', …\) is not served: pg-taskhub's HTTP control plane is the client/);
  });

  it('what only a Functions host has: getClient throws clearly; input and token descriptors can be created', () => {
    assert.throws(() => df.getClient({}), /df\.getClient has no binding outside Azure Functions/);
    assert.equal(new df.ManagedIdentityTokenSource('https://management.core.windows.net/.default').resource, 'https://management.core.windows.net/.default');
    assert.equal(df.input.durableClient().type, 'durableClient');
    assert.equal(new df.EntityId('Counter', 'a').toString(), '@counter@a');
    assert.equal(df.OrchestrationRuntimeStatus.Completed, 'Completed');
  });

  it('calling the value df.app.activity returned explains the supported call', () => {
    const typed = df.app.activity('TypedStyle', { handler: async () => 1 });
    assert.throws(() => typed('x'), /yield context\.df\.callActivity\('TypedStyle', input\) instead/);
    df.applyDurableFunctionsApp(new Registry());
  });

  it('the module loader takes df.app registrations of a module without register(); a module with neither is refused', async () => {
    const registry = new Registry();
    await loadModules(registry, ['./examples/durable-functions/backup-folder.ts'], ROOT);
    assert.ok(registry.getOrchestration('BackupFolder'));
    assert.ok(registry.getActivity('CopyFile'));
    // A path without './' (as typed on a command line) is that file, not a package named 'examples'.
    const bare = new Registry();
    await loadModules(bare, ['examples/durable-functions/hello-cities.ts'], ROOT);
    assert.ok(bare.getOrchestration('HelloCities'));
    await assert.rejects(loadModules(new Registry(), ['no-such-package-for-taskhub'], ROOT), /Cannot find package 'no-such-package-for-taskhub'/);
    await assert.rejects(
      loadModules(new Registry(), ['./src/orchestrator/core/statuses.ts'], ROOT),
      /must export a register\(registry\) function, or register with df\.app\.\* \(the module pg-taskhub\/durable-functions\)/,
    );
  });
});

describe('pg-taskhub/durable-functions: contexts at run time', () => {
  let hub: TestHub;
  const seen: Record<string, unknown> = {};
  before(async () => {
    df.app.activity('Inspect', {
      handler: async (input: string, context) => {
        for (const m of ['log', 'trace', 'debug', 'info', 'warn', 'error'] as const) {
          seen[m] = typeof context[m];
          context[m]('from', m, { input });
        }
        seen.functionName = context.functionName;
        seen.invocationId = context.invocationId;
        seen.instanceId = context.instanceId;
        return `inspected ${input}`;
      },
    });
    df.app.activity('WritesOutputBinding', {
      handler: async (_input: unknown, context) => {
        context.extraOutputs.set({ type: 'queue' }, 'message');
        return 'unreachable';
      },
    });
    df.app.orchestration('UsesContexts', function* (context) {
      context.log('orchestration', context.functionName, 'starts');
      const inspected: string = yield context.df.callActivity('Inspect', 'x');
      let bindingError = '';
      try {
        yield context.df.callActivity('WritesOutputBinding');
      } catch (err) {
        bindingError = (err as Error).message;
      }
      context.df.setCustomStatus({ step: 'done' });
      return { inspected, bindingError, customStatus: context.df.customStatus, version: context.df.version ?? null };
    });
    for (const [name, call] of [
      ['CallsEntity', (c: df.OrchestrationContext) => c.df.callEntity(new df.EntityId('Counter', 'k'), 'add', 1)],
      ['SignalsEntity', (c: df.OrchestrationContext) => c.df.signalEntity(new df.EntityId('Counter', 'k'), 'add', 1)],
      [
        'CallsHttpWithIdentity',
        (c: df.OrchestrationContext) =>
          c.df.callHttp({ method: 'GET', url: 'http://127.0.0.1:1/', tokenSource: new df.ManagedIdentityTokenSource('https://management.core.windows.net') }),
      ],
    ] as const) {
      df.app.orchestration(name, function* (context) {
        yield call(context);
        return 'unreachable';
      });
    }
    const registry = new Registry();
    df.applyDurableFunctionsApp(registry);
    hub = await startTestHub({ registry });
  });
  after(async () => {
    await hub?.close();
  });

  it('an activity context has log/trace/debug/info/warn/error, functionName and a fresh invocationId; output bindings fail clearly', async () => {
    await hub.client.start({ name: 'UsesContexts', instanceId: 'ctx-1', input: undefined });
    const row = await waitForInstance(hub, 'ctx-1');
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    const output = JSON.parse(row.output as string);
    assert.equal(output.inspected, 'inspected x');
    assert.match(output.bindingError, /^Activity function 'WritesOutputBinding' failed: context\.extraOutputs \(Azure Functions output bindings\) has no meaning outside Azure/);
    assert.deepEqual(output.customStatus, { step: 'done' });
    assert.equal(output.version, null);
    for (const m of ['log', 'trace', 'debug', 'info', 'warn', 'error']) assert.equal(seen[m], 'function', m);
    assert.equal(seen.functionName, 'Inspect');
    assert.equal(seen.instanceId, 'ctx-1');
    assert.match(String(seen.invocationId), /^[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it('callEntity, signalEntity fail the instance with "not supported yet", never a TypeError', async () => {
    for (const name of ['CallsEntity', 'SignalsEntity']) {
      const id = `nyi-${name}`;
      await hub.client.start({ name, instanceId: id, input: undefined });
      const row = await waitForInstance(hub, id);
      assert.equal(row.runtimeStatus, 'Failed', name);
      assert.equal(row.failure?.type, 'NotSupportedError', JSON.stringify(row.failure));
      assert.match(row.failure?.message ?? '', /^context\.df\.(callEntity|signalEntity) is not supported yet by pg-taskhub/);
    }
  });

  it('callHttp with a ManagedIdentityTokenSource and no token provider: NotSupportedError at the call, naming the hook', async () => {
    await hub.client.start({ name: 'CallsHttpWithIdentity', instanceId: 'http-identity', input: undefined });
    const row = await waitForInstance(hub, 'http-identity');
    assert.equal(row.runtimeStatus, 'Failed');
    assert.equal(row.failure?.type, 'NotSupportedError', JSON.stringify(row.failure));
    assert.match(
      row.failure?.message ?? '',
      /^context\.df\.callHttp: tokenSource \(ManagedIdentityTokenSource for 'https:\/\/management\.core\.windows\.net'\) has no meaning outside Azure: register a token provider \(registry\.httpTokenProvider/,
    );
  });
});

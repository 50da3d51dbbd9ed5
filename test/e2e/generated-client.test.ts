/**
 * The generated, typed client (src/client, openapi-fetch over the types of the OpenAPI document)
 * against a LIVE server process with a key: start, status with history, listing pages through the
 * continuation header, an event raised to an Approval instance, terminate, purge, the typed error
 * bodies, and examples/client-example.ts run as a user would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTaskHubHttpClient, type InstanceStatus, listInstancePages, type ManagementPayload, type TaskHubHttpClient } from '../../src/client/index.ts';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { childEnv, exitWithin, killAll, NODE_FLAGS, ROOT, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const KEY = randomBytes(16).toString('hex');
const START = '/runtime/webhooks/durabletask/orchestrators/{functionName}/{instanceId}';
const STATUS = '/runtime/webhooks/durabletask/instances/{instanceId}';

let db: TestDatabase;
let server: ServerProcess;
let origin: string;
let hub: TaskHubHttpClient;

before(async () => {
  db = await createTestDatabase('taskhub_e2e');
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  // A small pool: the test PostgreSQL is shared with the test files running alongside.
  server = spawnNode({ DATABASE_URL: db.url, PORT: String(port), TASKHUB_KEY: KEY, LOG_LEVEL: 'warn', TASKHUB_PG_POOL_MAX: '4', TASKHUB_SCHEDULES: 'false' });
  await waitForHttp(`${origin}/healthz`, server, 60_000);
  hub = createTaskHubHttpClient(origin, { key: KEY });
});

after(async () => {
  if (server?.running()) {
    server.signal('SIGTERM');
    await exitWithin(server, 30_000).catch(() => undefined);
  }
  await killAll();
  await db?.drop().catch(() => undefined);
});

const uid = (prefix: string): string => `${prefix}-${randomBytes(5).toString('hex')}`;

async function start(name: string, instanceId: string, input: unknown): Promise<ManagementPayload> {
  const { data, error, response } = await hub.POST(START, { params: { path: { functionName: name, instanceId } }, body: input });
  assert.equal(response.status, 202, JSON.stringify(error));
  return data as ManagementPayload;
}

/** Polls the status until the predicate holds. */
function statusUntil(instanceId: string, until: (s: InstanceStatus) => boolean, what: string): Promise<InstanceStatus> {
  return waitFor(
    `${instanceId}: ${what}`,
    async () => {
      const { data } = await hub.GET(STATUS, { params: { path: { instanceId } } });
      return data !== undefined && until(data) ? data : undefined;
    },
    30_000,
    server,
  );
}

describe('the generated client against a live server', () => {
  it('sends the key: without it every control-plane call is a 401 (no body)', async () => {
    const anonymous = createTaskHubHttpClient(origin);
    const { data, error, response } = await anonymous.GET('/runtime/webhooks/durabletask/instances', {});
    assert.equal(response.status, 401);
    assert.equal(data, undefined);
    assert.equal(error, undefined);
    // A base URL ending in the webhook path (the durable-functions rpcBaseUrl habit) works too.
    const viaRpc = createTaskHubHttpClient(`${origin}/runtime/webhooks/durabletask/`, { key: KEY });
    assert.equal((await viaRpc.GET('/runtime/webhooks/durabletask/orchestrators', {})).response.status, 200);
  });

  it('starts HelloSequence (202, management payload, Location) and polls it to Completed, with history', async () => {
    const { data, response } = await hub.POST('/runtime/webhooks/durabletask/orchestrators/{functionName}', {
      params: { path: { functionName: 'HelloSequence' } },
      body: null,
    });
    assert.equal(response.status, 202);
    const started = data as ManagementPayload;
    assert.match(started.id, /^[0-9a-f]{32}$/);
    assert.equal(response.headers.get('location'), started.statusQueryGetUri);
    assert.equal(response.headers.get('retry-after'), '10');
    assert.ok(started.statusQueryGetUri.startsWith(`${origin}/runtime/webhooks/durabletask/instances/${started.id}?`));

    const done = await statusUntil(started.id, (s) => s.runtimeStatus === 'Completed', 'Completed');
    assert.deepEqual(done.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    assert.equal(done.name, 'HelloSequence');
    assert.equal(done.input, null);
    assert.match(done.createdTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const withHistory = await hub.GET(STATUS, {
      params: { path: { instanceId: started.id }, query: { showHistory: 'true', showHistoryOutput: 'true' } },
    });
    assert.equal(withHistory.response.status, 200);
    const events = withHistory.data?.historyEvents ?? [];
    assert.deepEqual(
      events.map((e) => e.EventType),
      ['ExecutionStarted', 'TaskCompleted', 'TaskCompleted', 'TaskCompleted', 'ExecutionCompleted'],
    );
    assert.deepEqual(events.filter((e) => e.EventType === 'TaskCompleted').map((e) => e.Result), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    const plain = await hub.GET(STATUS, { params: { path: { instanceId: started.id } } });
    assert.equal(plain.data?.historyEvents, undefined, 'no history unless asked for');
  });

  it('lists page by page through x-ms-continuation-token (by hand and with listInstancePages)', async () => {
    const prefix = uid('page');
    const ids = ['a', 'b', 'c', 'd', 'e'].map((x) => `${prefix}-${x}`);
    for (const id of ids) await start('HelloSequence', id, null);

    const pages: string[][] = [];
    let token: string | undefined;
    do {
      const { data, error, response } = await hub.GET('/runtime/webhooks/durabletask/instances', {
        params: { query: { instanceIdPrefix: prefix, top: 2 }, header: token === undefined ? {} : { 'x-ms-continuation-token': token } },
      });
      assert.equal(response.status, 200, JSON.stringify(error));
      pages.push((data ?? []).map((s) => s.instanceId));
      token = response.headers.get('x-ms-continuation-token') || undefined;
      assert.ok(pages.length <= 5, 'the listing ends');
    } while (token !== undefined);
    assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
    assert.deepEqual(pages.flat().sort(), ids);

    const viaHelper: string[][] = [];
    for await (const page of listInstancePages(hub, { instanceIdPrefix: prefix, top: 2 })) viaHelper.push(page.map((s) => s.instanceId));
    assert.deepEqual(viaHelper, pages);

    const forged = await hub.GET('/runtime/webhooks/durabletask/instances', { params: { header: { 'x-ms-continuation-token': 'not-a-token' } } });
    assert.equal(forged.response.status, 400);
    assert.equal(typeof forged.error?.Message, 'string');
  });

  it('raises an event to an Approval instance: it completes "approved"; 404 and 410 are typed error bodies', async () => {
    const id = uid('approval');
    await start('Approval', id, { timeoutSeconds: 3600 });
    const waiting = await statusUntil(id, (s) => s.runtimeStatus === 'Running' && s.customStatus === 'waiting for approval', 'waiting');
    assert.deepEqual(waiting.input, { timeoutSeconds: 3600 });

    const raised = await hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/raiseEvent/{eventName}', {
      params: { path: { instanceId: id, eventName: 'Approval' } },
      body: true,
    });
    assert.equal(raised.response.status, 202);
    assert.equal(raised.data, undefined, 'empty body');
    const done = await statusUntil(id, (s) => s.runtimeStatus === 'Completed', 'Completed');
    assert.equal(done.output, 'approved');

    const gone = await hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/raiseEvent/{eventName}', {
      params: { path: { instanceId: id, eventName: 'Approval' } },
      body: true,
    });
    assert.equal(gone.response.status, 410);
    assert.equal(gone.error?.code, 'INSTANCE_GONE');
    const missing = await hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/raiseEvent/{eventName}', {
      params: { path: { instanceId: uid('missing'), eventName: 'Approval' } },
      body: true,
    });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error?.code, 'INSTANCE_NOT_FOUND');
  });

  it('terminates a waiting instance, then purges it', async () => {
    const id = uid('terminate');
    await start('Approval', id, { timeoutSeconds: 3600 });
    await statusUntil(id, (s) => s.customStatus === 'waiting for approval', 'waiting');

    const terminated = await hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/terminate', {
      params: { path: { instanceId: id }, query: { reason: 'not needed' } },
    });
    assert.equal(terminated.response.status, 202);
    const done = await statusUntil(id, (s) => s.runtimeStatus === 'Terminated', 'Terminated');
    assert.equal(done.output, 'not needed');
    const again = await hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/terminate', { params: { path: { instanceId: id } } });
    assert.equal(again.response.status, 410);

    const purged = await hub.DELETE(STATUS, { params: { path: { instanceId: id } } });
    assert.equal(purged.response.status, 200);
    assert.deepEqual(purged.data, { instancesDeleted: 1 });
    const status = await hub.GET(STATUS, { params: { path: { instanceId: id } } });
    assert.equal(status.response.status, 404);
    assert.equal(status.error, undefined, 'a missing instance is a 404 with an empty body');
    const purgedAgain = await hub.DELETE(STATUS, { params: { path: { instanceId: id } } });
    assert.equal(purgedAgain.response.status, 404);
    assert.equal(purgedAgain.error?.code, 'INSTANCE_NOT_FOUND');
  });

  it('is typed from the document: undocumented paths and wrong parameters do not compile (npm run typecheck)', () => {
    // Never run: the compiler checks these lines; an unused @ts-expect-error is itself an error.
    const unchecked = (): void => {
      // @ts-expect-error not a documented path
      void hub.GET('/runtime/webhooks/durabletask/nope', {});
      // @ts-expect-error top is an integer
      void hub.GET('/runtime/webhooks/durabletask/instances', { params: { query: { top: 'ten' } } });
      // @ts-expect-error the path needs instanceId
      void hub.POST('/runtime/webhooks/durabletask/instances/{instanceId}/terminate', { params: { path: {} } });
      // @ts-expect-error not a runtime status
      const status: InstanceStatus['runtimeStatus'] = 'Sleeping';
      void status;
    };
    assert.equal(typeof unchecked, 'function');
  });

  it('examples/client-example.ts starts HelloSequence and prints its output', async () => {
    const child = spawn(process.execPath, [...NODE_FLAGS, 'examples/client-example.ts'], {
      cwd: ROOT,
      env: childEnv({ TASKHUB_URL: origin, TASKHUB_KEY: KEY }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /^started HelloSequence: [0-9a-f]{32}\nCompleted: \["Hello Tokyo!","Hello Seattle!","Hello London!"\]\n$/);
  });
});

/**
 * Two task hubs on two databases, served by one real server process (`node src/cli.ts`):
 * TASKHUB_HUBS=DataIngest,Billing:Reports with TASKHUB_CONNECTION_REPORTS pointing at a second
 * database. Each hub is its own world: listing, purge, single-instance slots, schedules, status URIs
 * (which name the hub and its connection), and the official JavaScript client pointed at Billing.
 * Unknown hubs and connections are 404s; a hub on a connection that is not configured, or not
 * reachable, stops the process at start with the variable named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as df from 'durable-functions';
import pg from 'pg';
import { durableClientContext } from '../../src/client/durable-functions.ts';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { sample } from '../helpers/prometheus.ts';
import { exitWithin, killAll, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const API = '/runtime/webhooks/durabletask';
const BILLING_OFFERS = ['DataIngest', 'EverySecond', 'HelloSequence', 'Approval'];

interface Status {
  instanceId: string;
  name: string;
  runtimeStatus: string;
  output: unknown;
}

async function rows(db: TestDatabase, sql: string): Promise<Array<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('task hubs: two hubs on two databases, one server', () => {
  let storage: TestDatabase;
  let reports: TestDatabase;
  let server: ServerProcess;
  let url: string;

  before(async () => {
    [storage, reports] = await Promise.all([createTestDatabase('taskhub_hubs_a'), createTestDatabase('taskhub_hubs_b')]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawnNode({
      DATABASE_URL: storage.url,
      TASKHUB_CONNECTION_REPORTS: reports.url,
      TASKHUB_HUBS: 'DataIngest, Billing:Reports',
      TASKHUB_HUB_BILLING_ORCHESTRATIONS: BILLING_OFFERS.join(','),
      PORT: String(port),
      LOG_LEVEL: 'info',
      TASKHUB_PG_POOL_MAX: '3',
      TASKHUB_PG_API_POOL_MAX: '2',
      TASKHUB_PG_ACTIVITY_POOL_MAX: '2',
      TASKHUB_PG_BOSS_POOL_MAX: '2',
      TASKHUB_MODULES: './test/fixtures/scheduled-module.ts',
    });
    await waitForHttp(`${url}/healthz`, server, 90_000);
  });
  after(async () => {
    await killAll();
    await Promise.all([storage?.drop().catch(() => undefined), reports?.drop().catch(() => undefined)]);
  });

  const call = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${url}${API}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await (await res).json()) as T;
  const waitForStatus = (path: string, done: (s: Status) => boolean): Promise<Status> =>
    waitFor(
      path,
      async () => {
        const res = await call('GET', path);
        if (res.status === 404) return undefined;
        const status = (await res.json()) as Status;
        return done(status) ? status : undefined;
      },
      30_000,
      server,
    );

  it('each hub lives in its own schema on its own database; /readyz reports each', async () => {
    const ready = await json<{ status: string; hubs: Array<{ name: string; connection: string; status: string }> }>(fetch(`${url}/readyz`));
    assert.equal(ready.status, 'ready');
    assert.deepEqual(
      ready.hubs.map((h) => [h.name, h.connection, h.status]),
      [
        ['DataIngest', 'Storage', 'ready'],
        ['Billing', 'Reports', 'ready'],
      ],
    );
    const schemas = async (db: TestDatabase) => (await rows(db, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'taskhub%' ORDER BY 1")).map((r) => r.nspname);
    assert.deepEqual(await schemas(storage), ['taskhub_dataingest', 'taskhub_dataingest_boss']);
    assert.deepEqual(await schemas(reports), ['taskhub_billing', 'taskhub_billing_boss']);
  });

  it('each hub offers its own orchestrations; a start of one it does not offer is a 400 there', async () => {
    const names = async (q: string) => (await json<Array<{ name: string }>>(call('GET', `/orchestrators${q}`))).map((o) => o.name);
    assert.deepEqual(await names('?taskHub=billing'), [...BILLING_OFFERS].sort());
    assert.ok((await names('')).includes('FanOutFanIn'));
    const refused = await call('POST', '/orchestrators/FanOutFanIn?taskHub=Billing', { count: 1 });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { code: string }).code, 'UNKNOWN_ORCHESTRATOR');
  });

  it("one instance ID in both hubs: two instances, each listed, read and purged in its own hub only; each hub's URIs name it", async () => {
    const id = `shared-${Date.now()}`;
    const inDefault = await call('POST', `/orchestrators/HelloSequence/${id}`);
    assert.equal(inDefault.status, 202);
    const inBilling = await call('POST', `/orchestrators/HelloSequence/${id}?taskHub=Billing&connection=Reports`);
    assert.equal(inBilling.status, 202, await inBilling.clone().text());
    const d = (await inDefault.json()) as Record<string, string>;
    const b = (await inBilling.json()) as Record<string, string>;
    assert.equal(d.statusQueryGetUri, `${url}${API}/instances/${id}?taskHub=DataIngest&connection=Storage`);
    assert.equal(b.statusQueryGetUri, `${url}${API}/instances/${id}?taskHub=Billing&connection=Reports`);
    for (const name of ['sendEventPostUri', 'terminatePostUri', 'rewindPostUri', 'purgeHistoryDeleteUri', 'restartPostUri', 'suspendPostUri', 'resumePostUri']) {
      assert.match(b[name] as string, /[?&]taskHub=Billing&connection=Reports$/, name);
    }
    assert.equal(inBilling.headers.get('location'), b.statusQueryGetUri);
    // Both run (each hub's own workers), and the URIs work as given.
    await waitForStatus(`/instances/${id}`, (s) => s.runtimeStatus === 'Completed');
    const viaUri = await waitFor('Billing instance completes', async () => {
      const s = await json<Status>(fetch(b.statusQueryGetUri as string));
      return s.runtimeStatus === 'Completed' ? s : undefined;
    }, 30_000, server);
    assert.deepEqual(viaUri.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    assert.equal((await rows(reports, `SELECT count(*)::int AS n FROM taskhub_billing.instances WHERE instance_id = '${id}'`))[0]?.n, 1);
    assert.equal((await rows(storage, `SELECT count(*)::int AS n FROM taskhub_dataingest.instances WHERE instance_id = '${id}'`))[0]?.n, 1);

    // Listing: a Billing-only instance is listed in Billing and nowhere else.
    const only = `billing-only-${Date.now()}`;
    assert.equal((await call('POST', `/orchestrators/HelloSequence/${only}?taskHub=Billing`)).status, 202);
    const listed = async (q: string) => (await json<Status[]>(call('GET', `/instances?top=1000&instanceIdPrefix=${q}`))).map((s) => s.instanceId);
    assert.deepEqual(await listed(`billing-only&taskHub=Billing`), [only]);
    assert.deepEqual(await listed('billing-only'), []);
    const counts = async (q: string) => (await json<{ total: number }>(call('GET', `/counts${q}`))).total;
    assert.ok((await counts('?taskHub=Billing')) >= 2);

    // Purge one: gone from the default hub only.
    assert.deepEqual(await json(call('DELETE', `/instances/${id}`)), { instancesDeleted: 1 });
    assert.equal((await call('GET', `/instances/${id}`)).status, 404);
    assert.equal((await call('GET', `/instances/${id}?taskHub=Billing`)).status, 200);
    // Purge many: every terminal instance of Billing, none of the default hub's.
    await waitForStatus(`/instances/${only}?taskHub=Billing`, (s) => s.runtimeStatus === 'Completed');
    const keep = `default-kept-${Date.now()}`;
    assert.equal((await call('POST', `/orchestrators/HelloSequence/${keep}`)).status, 202);
    await waitForStatus(`/instances/${keep}`, (s) => s.runtimeStatus === 'Completed');
    const purged = await json<{ instancesDeleted: number }>(call('DELETE', '/instances?taskHub=Billing&createdTimeFrom=2000-01-01T00:00:00Z&runtimeStatus=Completed'));
    assert.ok(purged.instancesDeleted >= 2, JSON.stringify(purged));
    assert.equal((await call('GET', `/instances/${id}?taskHub=Billing`)).status, 404);
    assert.equal((await call('GET', `/instances/${keep}`)).status, 200);
  });

  it('single-instance per hub: the same singleton is active in both hubs at once; a second start in one is a 409 naming that hub', async () => {
    const a = await call('POST', '/orchestrators/DataIngest', { sources: 1, pauseSeconds: 3600 });
    const b = await call('POST', '/orchestrators/DataIngest?taskHub=Billing', { sources: 1, pauseSeconds: 3600 });
    assert.equal(a.status, 202, await a.clone().text());
    assert.equal(b.status, 202, await b.clone().text());
    const again = await call('POST', '/orchestrators/DataIngest?taskHub=Billing', { sources: 1 });
    assert.equal(again.status, 409);
    const conflict = (await again.json()) as { code: string; instanceId: string; statusQueryGetUri: string };
    assert.equal(conflict.code, 'SINGLETON_ACTIVE');
    assert.equal(conflict.instanceId, ((await b.json()) as { id: string }).id);
    assert.match(conflict.statusQueryGetUri, /\?taskHub=Billing&connection=Reports$/);
    const active = async (q: string) => (await json<Status[]>(call('GET', `/instances?runtimeStatus=Running,Pending${q}`))).filter((s) => s.name === 'DataIngest');
    assert.equal((await active('')).length, 1);
    assert.equal((await active('&taskHub=Billing')).length, 1);
    // Terminated in one hub, the other's run goes on.
    assert.equal((await call('POST', `/instances/${conflict.instanceId}/terminate?taskHub=Billing&reason=done`)).status, 202);
    await waitForStatus(`/instances/${conflict.instanceId}?taskHub=Billing`, (s) => s.runtimeStatus === 'Terminated');
    assert.equal((await active('')).length, 1);
  });

  it("schedules: each hub ticks its own every-second schedule, in its own tables", async () => {
    const ticked = (q: string) =>
      waitFor(
        `EverySecond ticks${q}`,
        async () => {
          const list = await json<Array<{ name: string; startedCount: number; skippedCount: number }>>(call('GET', `/schedules${q}`));
          const every = list.find((s) => s.name === 'EverySecond');
          return every && every.startedCount >= 1 && every.skippedCount >= 1 ? { every, names: list.map((s) => s.name) } : undefined;
        },
        30_000,
        server,
      );
    const [inDefault, inBilling] = await Promise.all([ticked(''), ticked('?taskHub=Billing')]);
    // Billing schedules only what it offers (DataIngest's daily schedule and EverySecond).
    assert.deepEqual(inBilling.names.sort(), ['DataIngest', 'EverySecond']);
    assert.ok(inDefault.names.includes('EverySecond'));
    const runs = async (q: string) => (await json<Status[]>(call('GET', `/instances?name=EverySecond&top=1000${q}`))).length;
    assert.ok((await runs('')) >= 1);
    assert.ok((await runs('&taskHub=Billing')) >= 1);
    const dbTicks = async (db: TestDatabase, schema: string) => (await rows(db, `SELECT count(*)::int AS n FROM ${schema}.schedule_ticks WHERE name = 'EverySecond'`))[0]?.n as number;
    assert.ok((await dbTicks(reports, 'taskhub_billing')) >= 2);
    assert.ok((await dbTicks(storage, 'taskhub_dataingest')) >= 2);
    const ticks = await json<Array<{ instanceId: string | null }>>(call('GET', '/schedules/EverySecond/ticks?taskHub=Billing&top=5'));
    const started = ticks.find((t) => t.instanceId !== null)?.instanceId as string;
    assert.equal((await call('GET', `/instances/${started}?taskHub=Billing`)).status !== 404, true);
  });

  it('unknown hubs and connections are 404s that name what is served, and change nothing', async () => {
    const before = await json<{ total: number }>(call('GET', '/counts'));
    const cases: Array<[string, string, RegExp]> = [
      ['POST', '/orchestrators/HelloSequence?taskHub=Nowhere', /'Nowhere' was not found: this service serves 'DataIngest', 'Billing'/],
      ['GET', '/instances?taskHub=Nowhere', /Nowhere/],
      ['POST', '/orchestrators/HelloSequence?taskHub=Billing&connection=Storage', /'Billing' was not found on the connection 'Storage': it lives on 'Reports'/],
      ['POST', '/orchestrators/HelloSequence?connection=Reports', /'DataIngest' was not found on the connection 'Reports'/],
      ['DELETE', '/instances?createdTimeFrom=2000-01-01T00:00:00Z&connection=Elsewhere', /connection 'Elsewhere' is not configured/],
    ];
    for (const [method, path, message] of cases) {
      const res = await call(method, path);
      assert.equal(res.status, 404, `${method} ${path}`);
      const body = (await res.json()) as { code: string; Message: string };
      assert.equal(body.code, 'TASK_HUB_NOT_FOUND');
      assert.match(body.Message, message);
    }
    assert.equal((await json<{ total: number }>(call('GET', '/counts'))).total, before.total);
  });

  it('the official JavaScript client, pointed at Billing with taskHub, acts on Billing only', async () => {
    process.env.WEBSITE_HOSTNAME = new URL(url).host;
    const client = df.getClient(durableClientContext(url, { taskHub: 'Billing', connection: 'Reports' }) as never);
    const id = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    await waitForStatus(`/instances/${id}?taskHub=Billing`, (s) => s.runtimeStatus === 'Running');
    assert.equal((await call('GET', `/instances/${id}`)).status, 404, 'not in the default hub');
    assert.equal((await client.getStatus(id)).runtimeStatus, df.OrchestrationRuntimeStatus.Running);
    const payload = client.createHttpManagementPayload(id);
    assert.match(payload.statusQueryGetUri, /\?taskHub=Billing&connection=Reports$/);
    await client.raiseEvent(id, 'Approval', true);
    await waitForStatus(`/instances/${id}?taskHub=Billing`, (s) => s.runtimeStatus === 'Completed');
    assert.equal((await client.getStatus(id)).output, 'approved');
    const all = await client.getStatusAll();
    assert.ok(all.some((s) => s.instanceId === id));
    const inDefault = await json<Status[]>(call('GET', '/instances?top=1000'));
    assert.ok(!inDefault.some((s) => s.instanceId === id));
    const other = await client.startNew('Approval', { input: { timeoutSeconds: 3600 } });
    await waitForStatus(`/instances/${other}?taskHub=Billing`, (s) => s.runtimeStatus === 'Running');
    await client.terminate(other, 'stop');
    assert.equal((await client.getStatus(other)).runtimeStatus, df.OrchestrationRuntimeStatus.Terminated);
    assert.equal((await client.purgeInstanceHistory(id)).instancesDeleted, 1);
    assert.equal((await call('GET', `/instances/${id}?taskHub=Billing`)).status, 404);
    // A start of an orchestration Billing does not offer is refused by Billing.
    await assert.rejects(client.startNew('FanOutFanIn'), /400/);
  });

  it('/metrics labels each series with its hub', async () => {
    const text = await waitFor(
      'both hubs in /metrics',
      async () => {
        const t = await (await fetch(`${url}/metrics`)).text();
        return (sample(t, 'taskhub_instances', { hub: 'Billing' }) ?? 0) > 0 && (sample(t, 'taskhub_instances', { hub: 'DataIngest' }) ?? 0) > 0 ? t : undefined;
      },
      30_000,
      server,
    );
    assert.ok((sample(text, 'taskhub_starts_total', { hub: 'Billing', orchestration: 'HelloSequence', outcome: 'accepted' }) ?? 0) >= 2);
    assert.ok((sample(text, 'taskhub_pg_pool_connections', { hub: 'Billing', pool: 'api', state: 'max' }) ?? 0) === 2);
    assert.ok((sample(text, 'taskhub_schedule_ticks_total', { hub: 'Billing', orchestration: 'EverySecond', outcome: 'started' }) ?? 0) >= 1);
  });
});

describe('task hubs: connections at start', () => {
  after(killAll);

  it('a hub on a connection that is not set: exit 2, naming the variable, before anything starts', async () => {
    const proc = spawnNode({ DATABASE_URL: 'postgres://127.0.0.1:1/none', TASKHUB_HUBS: 'Main,Billing:Ledger', PORT: '0' });
    assert.equal(await exitWithin(proc, 30_000), 2);
    assert.match(proc.stderr(), /TASKHUB_HUBS puts the hub 'Billing' on the connection 'Ledger', but TASKHUB_CONNECTION_LEDGER is not set/);
  });

  it('a connection that cannot be reached: exit 1, naming its variable', async () => {
    const db = await createTestDatabase('taskhub_hubs_c');
    try {
      const port = await freePort();
      const proc = spawnNode({ DATABASE_URL: db.url, TASKHUB_CONNECTION_LEDGER: `postgres://postgres@127.0.0.1:${port}/none`, TASKHUB_HUBS: 'Main,Billing:Ledger', PORT: '0' });
      assert.equal(await exitWithin(proc, 60_000), 1);
      assert.match(proc.stderr(), /TASKHUB_CONNECTION_LEDGER cannot be reached/);
    } finally {
      await db.drop();
    }
  });
});

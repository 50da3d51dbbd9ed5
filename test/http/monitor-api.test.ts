/**
 * What the monitor needs from the API beyond Durable Functions (ours): GET /counts, the `name`
 * filter and `order=desc` on GET /instances (continuation tokens included), and the monitor's own
 * shell and assets (served without the key, with a strict Content-Security-Policy); GET
 * /schedules/{name}/ticks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import { registerExamples } from '../../src/examples/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { countsView } from '../../src/routes/counts.ts';
import { scheduledModule } from '../fixtures/test-orchestrations.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { assertErrorBody, BASE, body, buildHttpApp, instanceIn, uid } from './support.ts';

describe('counts, name filter and order (ours)', () => {
  let hub: TestHub;
  let app: App;
  const prefix = uid('cnt');
  const ids: Record<string, string> = {};

  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    ids.a = await instanceIn(hub, 'completed', `${prefix}-a`);
    ids.b = await instanceIn(hub, 'active', `${prefix}-b`);
    ids.c = await instanceIn(hub, 'completed', `${prefix}-c`);
    ids.d = await instanceIn(hub, 'failed', `${prefix}-d`);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('GET /counts: per status (all present) and per name', async () => {
    const res = await app.inject({ method: 'GET', url: `${BASE}/counts` });
    assert.equal(res.statusCode, 200);
    const counts = body(res);
    assert.equal(counts.total, 4);
    assert.deepEqual(counts.byStatus, { Running: 1, Completed: 2, ContinuedAsNew: 0, Failed: 1, Canceled: 0, Terminated: 0, Pending: 0, Suspended: 0 });
    assert.deepEqual(
      counts.byName.map((n: { name: string; total: number }) => [n.name, n.total]),
      [['Approval', 1], ['HelloSequence', 2], ['RewindDemo', 1]],
    );
    assert.equal(counts.byName[1].byStatus.Completed, 2);
    assert.equal(counts.byName[1].byStatus.Running, 0);
  });

  it('countsView is exact for rows it is given', () => {
    assert.deepEqual(countsView([]).total, 0);
    const v = countsView([
      { name: 'X', runtimeStatus: 'Running', count: 3 },
      { name: 'X', runtimeStatus: 'Failed', count: 2 },
      { name: 'Y', runtimeStatus: 'Running', count: 1 },
    ]);
    assert.equal(v.total, 6);
    assert.equal(v.byStatus.Running, 4);
    assert.deepEqual(v.byName.map((n) => n.total), [5, 1]);
  });

  it('GET /counts needs the key when one is set', async () => {
    const keyed = await buildHttpApp(hub, { TASKHUB_KEY: 'sekrit' });
    try {
      assert.equal((await keyed.inject({ method: 'GET', url: `${BASE}/counts` })).statusCode, 401);
      assert.equal((await keyed.inject({ method: 'GET', url: `${BASE}/counts`, headers: { 'x-functions-key': 'sekrit' } })).statusCode, 200);
    } finally {
      await keyed.close();
    }
  });

  it('name filters the listing exactly; it combines with the other filters', async () => {
    const res = await app.inject({ method: 'GET', url: `${BASE}/instances?name=HelloSequence` });
    assert.deepEqual(body(res).map((i: { instanceId: string }) => i.instanceId).sort(), [ids.a, ids.c].sort());
    const none = await app.inject({ method: 'GET', url: `${BASE}/instances?name=hellosequence` });
    assert.deepEqual(body(none), [], 'the name is exact (case-sensitive), like the registry key it is');
    const both = await app.inject({ method: 'GET', url: `${BASE}/instances?NAME=HelloSequence&runtimeStatus=Running` });
    assert.deepEqual(body(both), []);
  });

  it('order=desc lists newest first, and its continuation tokens page backwards through the same set', async () => {
    const asc = body(await app.inject({ method: 'GET', url: `${BASE}/instances?instanceIdPrefix=${prefix}` })).map((i: { instanceId: string }) => i.instanceId);
    assert.equal(asc.length, 4);
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await app.inject({
        method: 'GET',
        url: `${BASE}/instances?instanceIdPrefix=${prefix}&order=desc&top=1`,
        headers: token ? { 'x-ms-continuation-token': token } : {},
      });
      assert.equal(res.statusCode, 200);
      seen.push(...body(res).map((i: { instanceId: string }) => i.instanceId));
      token = res.headers['x-ms-continuation-token'] as string | undefined;
      if (!token) break;
    }
    assert.deepEqual(seen, [...asc].reverse());
  });

  it('a bad order or an empty name is a 400 that names it', async () => {
    assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/instances?order=sideways` }), 400);
    assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/instances?name=` }), 400);
  });

  it('purge many ignores name (it is a listing filter only)', async () => {
    const res = await app.inject({ method: 'DELETE', url: `${BASE}/instances?createdTimeFrom=2000-01-01T00:00:00Z&name=NoSuchName&runtimeStatus=Failed` });
    assert.equal(res.statusCode, 200);
    assert.equal(body(res).instancesDeleted, 1);
  });
});

describe('the monitor shell', () => {
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub, { TASKHUB_KEY: 'sekrit' });
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('is served without the key, carries no data, and forbids inline script', async () => {
    const res = await app.inject({ method: 'GET', url: '/monitor' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.headers['content-security-policy'] as string, /script-src 'self'/);
    assert.doesNotMatch(res.headers['content-security-policy'] as string, /unsafe-inline/);
    assert.match(res.body, /<script type="module" src="\/monitor\/assets\/app.js">/);
    assert.doesNotMatch(res.body, /sekrit/);
    for (const file of ['app.js', 'api.js', 'dom.js', 'overview.js', 'instances.js', 'instance.js', 'timeline.js', 'schedules.js', 'monitor.css', 'icon.svg']) {
      const asset = await app.inject({ method: 'GET', url: `/monitor/assets/${file}` });
      assert.equal(asset.statusCode, 200, file);
      assert.equal(asset.headers['x-content-type-options'], 'nosniff');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/monitor/assets/..%2Fpackage.json' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/monitor/assets/nope.js' })).statusCode, 404);
  });

  it('its scripts load nothing from another origin', async () => {
    for (const file of ['app.js', 'api.js', 'dom.js', 'overview.js', 'instances.js', 'instance.js', 'timeline.js', 'schedules.js']) {
      const text = (await app.inject({ method: 'GET', url: `/monitor/assets/${file}` })).body;
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${file} names another origin`);
      assert.doesNotMatch(text, /innerHTML|insertAdjacentHTML|document\.write/, `${file} parses data as HTML`);
    }
  });
});

describe('schedule ticks (ours)', () => {
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub({ registry: scheduledModule(registerExamples(new Registry(), { pool: undefined }, { dataIngestSchedule: null })) });
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('lists the recent ticks newest first, started and skipped, matching the counters', async () => {
    // EverySecond fires each second and each run lasts 2.5 s: ticks start and skip.
    let ticks: Array<{ tickTime: string; outcome: string; instanceId: string | null; detail: string | null }> = [];
    const deadline = Date.now() + 20_000;
    while (!(ticks.some((t) => t.outcome === 'skipped') && ticks.some((t) => t.outcome === 'started'))) {
      assert.ok(Date.now() < deadline, `no started and skipped ticks yet: ${JSON.stringify(ticks)}`);
      await new Promise((r) => setTimeout(r, 200));
      const res = await app.inject({ method: 'GET', url: `${BASE}/schedules/everysecond/ticks?top=100` });
      assert.equal(res.statusCode, 200);
      ticks = body(res);
    }
    const times = ticks.map((t) => Date.parse(t.tickTime));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    const skipped = ticks.find((t) => t.outcome === 'skipped')!;
    assert.ok(skipped.instanceId, 'a skipped tick names the run that was still active');
    assert.match(skipped.detail ?? '', /still running/);
    const one = body(await app.inject({ method: 'GET', url: `${BASE}/schedules/EverySecond/ticks?top=1` }));
    assert.equal(one.length, 1);
  });

  it('404 for a name with no schedule; 400 for a bad top', async () => {
    assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/schedules/HelloSequence/ticks` }), 404, 'NOT_FOUND');
    assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/schedules/EverySecond/ticks?top=0` }), 400);
  });
});

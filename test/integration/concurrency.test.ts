/**
 * Concurrency control of starts (issue 14), each policy on a real hub over HTTP (inject): limits per
 * name and per key, useExisting / terminateExisting with a limit above 1, the queue (FIFO, one at a
 * time, the status payload's `waiting`, GET /concurrency, terminate and purge of a queued instance,
 * an event raised to it), replaceQueued, debounce (collapse, last input, maxWaitSeconds, with a
 * limit), sub-orchestrations under a limit, and the 400s of a policy that cannot apply.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import type { Instance } from '../../src/orchestrator/core/instance.ts';
import { register } from '../fixtures/concurrency-orchestrations.ts';
import { testRegistry } from '../fixtures/test-orchestrations.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { BASE, body, buildHttpApp } from '../http/support.ts';

const ACTIVE = `runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`;

describe('concurrency control of starts', () => {
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub({ registry: register(testRegistry()) });
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  async function start(name: string, input: unknown, query = ''): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/${name}${query}`, payload: input === undefined ? '' : JSON.stringify(input) });
    return { status: res.statusCode, body: res.body ? body(res) : {} };
  }
  async function status(id: string): Promise<Record<string, any>> {
    const res = await app.inject({ method: 'GET', url: `${BASE}/instances/${id}` });
    return body(res);
  }
  async function activeOf(name: string): Promise<number> {
    const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM instances WHERE name = $1 AND ${ACTIVE} AND concurrency_slot IS NOT NULL`, [name]);
    return rows[0].n;
  }
  async function finishAll(name: string): Promise<void> {
    const { rows } = await hub.pool.query(`SELECT instance_id FROM instances WHERE name = $1 AND ${ACTIVE}`, [name]);
    for (const r of rows) await hub.client.terminate(r.instance_id, 'test done').catch(() => undefined);
  }
  const ended = (id: string): Promise<Instance> => waitForInstance(hub, id);
  /** When each run's first turn ran and when it ended (from its history and row). */
  async function runWindow(id: string): Promise<{ started: number; ended: number }> {
    const found = await hub.client.status(id, { history: true });
    const first = found?.history?.find((e) => e.type === 'ExecutionStarted');
    assert.ok(first && found?.instance.completedAt, `${id} ran and ended`);
    return { started: Date.parse(first.timestamp), ended: found.instance.completedAt.getTime() };
  }

  it('limit 3: 30 concurrent starts → exactly 3 accepted, the rest 409 naming an active one', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => start('LimitedThree', { i })));
    assert.equal(answers.filter((a) => a.status === 202).length, 3);
    const refused = answers.filter((a) => a.status === 409);
    assert.equal(refused.length, 27);
    const accepted = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.id));
    for (const r of refused) {
      assert.equal(r.body.code, 'SINGLETON_ACTIVE');
      assert.match(String(r.body.Message), /'LimitedThree' already has its limit of 3 active instances for this key; the oldest is '/);
      assert.ok(accepted.has(r.body.instanceId as string), 'names one of the active instances');
    }
    assert.equal(await activeOf('LimitedThree'), 3);
  });

  it('limit 3: useExisting answers the oldest active, terminateExisting replaces the oldest', async () => {
    const { rows } = await hub.pool.query(`SELECT instance_id FROM instances WHERE name = 'LimitedThree' AND ${ACTIVE} ORDER BY created_at, instance_id`);
    const oldest = rows[0].instance_id as string;
    const existing = await start('LimitedThree', null, '?onConflict=useExisting');
    assert.equal(existing.status, 200);
    assert.equal(existing.body.id, oldest);
    const replaced = await start('LimitedThree', null, '?onConflict=terminateExisting');
    assert.equal(replaced.status, 202);
    const gone = await hub.client.get(oldest);
    assert.equal(gone?.runtimeStatus, 'Terminated');
    assert.match(String(gone?.output), /onConflict=terminateExisting/);
    assert.equal(await activeOf('LimitedThree'), 3);
    // A free slot: terminateExisting just starts (nothing terminated).
    await hub.client.raiseEvent(replaced.body.id as string, 'Finish', '"ok"');
    await ended(replaced.body.id as string);
    const free = await start('LimitedThree', null, '?onConflict=terminateExisting');
    assert.equal(free.status, 202);
    const { rows: terminated } = await hub.pool.query(`SELECT count(*)::int AS n FROM instances WHERE name = 'LimitedThree' AND runtime_status = 'Terminated'`);
    assert.equal(terminated[0].n, 1);
    await finishAll('LimitedThree');
  });

  it('a per-key limit: two keys, two slots each', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => start('PerTenantTwo', { tenant: i % 2 ? 'a' : 'b' })));
    assert.equal(answers.filter((a) => a.status === 202).length, 4);
    const { rows } = await hub.pool.query(
      `SELECT input::jsonb->>'tenant' AS tenant, count(*)::int AS n FROM instances WHERE name = 'PerTenantTwo' AND ${ACTIVE} GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(rows, [{ tenant: 'a', n: 2 }, { tenant: 'b', n: 2 }]);
    await finishAll('PerTenantTwo');
  });

  it('queue: every start is accepted, runs one at a time in arrival order, the status says its place', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await start('QueuedRun', { ms: 300, i });
      assert.equal(a.status, 202);
      ids.push(a.body.id as string);
    }
    // While the first runs, the others wait: Pending with their place in line.
    const waiting = await status(ids[4] as string);
    assert.equal(waiting.runtimeStatus, 'Pending');
    assert.equal(waiting.waiting.reason, 'concurrency');
    assert.equal(waiting.waiting.key, null);
    assert.ok(waiting.waiting.position >= 1 && waiting.waiting.position <= 4, JSON.stringify(waiting.waiting));
    const listing = body(await app.inject({ method: 'GET', url: `${BASE}/concurrency` }));
    const key = listing.keys.find((k: { orchestration: string }) => k.orchestration === 'QueuedRun');
    assert.equal(key.limit, 1);
    assert.ok(key.active.length <= 1);
    assert.deepEqual([...key.active, ...key.queued], ids.slice(ids.length - key.active.length - key.queued.length), 'the queue in arrival order');
    assert.ok(listing.orchestrations.some((o: { name: string; onConflict: string }) => o.name === 'QueuedRun' && o.onConflict === 'queue'));
    for (const id of ids) assert.equal((await ended(id)).runtimeStatus, 'Completed');
    const windows = await Promise.all(ids.map(runWindow));
    for (let i = 1; i < windows.length; i++) {
      assert.ok(windows[i]!.started >= windows[i - 1]!.ended, `run ${i} started after run ${i - 1} ended`);
    }
    assert.equal((await status(ids[0] as string)).waiting, undefined, 'no waiting field once it ran');
  });

  it('queue: a queued instance can be terminated or purged; an event does not make it run', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await start('QueuedPair', { tenant: 'q' })).body.id as string);
    const [, , third, fourth] = ids as [string, string, string, string];
    assert.equal((await status(third)).waiting.position, 1);
    assert.equal((await status(fourth)).waiting.position, 2);
    await hub.client.raiseEvent(third, 'Finish', '"early"');
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await hub.client.get(third))?.runtimeStatus, 'Pending', 'an event to a waiting instance is kept, not run');
    const terminate = await app.inject({ method: 'POST', url: `${BASE}/instances/${third}/terminate?reason=not%20needed` });
    assert.equal(terminate.statusCode, 202);
    assert.equal((await ended(third)).runtimeStatus, 'Terminated');
    assert.equal((await status(fourth)).waiting.position, 1, 'the next one moved up');
    const purge = await app.inject({ method: 'DELETE', url: `${BASE}/instances/${fourth}` });
    assert.equal(purge.statusCode, 200);
    assert.equal(await hub.client.get(fourth), undefined);
    // The slot holders are unaffected, and a new queued start still gets a slot when one frees.
    const fifth = (await start('QueuedPair', { tenant: 'q' })).body.id as string;
    await hub.client.raiseEvent(ids[0] as string, 'Finish', '"done"');
    await waitForInstance(hub, fifth, (r) => r.runtimeStatus === 'Running');
    assert.equal(await activeOf('QueuedPair'), 2);
    await finishAll('QueuedPair');
  });

  it('replaceQueued: at most one waits; a newer start replaces it, naming itself', async () => {
    const first = (await start('LatestWins', { ms: 1500, n: 0 })).body.id as string;
    const second = (await start('LatestWins', { ms: 10, n: 1 })).body.id as string;
    const third = (await start('LatestWins', { ms: 10, n: 2 })).body.id as string;
    const replaced = await ended(second);
    assert.equal(replaced.runtimeStatus, 'Terminated');
    assert.match(String(replaced.output), new RegExp(`replaced by a newer start, instance '${third}'`));
    assert.equal((await status(third)).waiting.position, 1);
    assert.equal((await ended(first)).runtimeStatus, 'Completed');
    const last = await ended(third);
    assert.equal(last.runtimeStatus, 'Completed');
    assert.deepEqual(JSON.parse(String(last.output)), { ms: 10, n: 2 });
  });

  it('debounce: a burst collapses into one instance that runs once with the last input', async () => {
    const answers = [];
    for (let i = 1; i <= 5; i++) answers.push(await start('Debounced', { i }));
    assert.deepEqual(answers.map((a) => a.status), [202, 202, 202, 202, 202]);
    const ids = new Set(answers.map((a) => a.body.id));
    assert.equal(ids.size, 1, 'every start answered with the one instance');
    const id = answers[0]!.body.id as string;
    const s = await status(id);
    assert.equal(s.runtimeStatus, 'Pending');
    assert.equal(s.waiting.reason, 'debounce');
    assert.ok(Date.parse(s.waiting.startsAt) > Date.now());
    const done = await ended(id);
    assert.deepEqual(JSON.parse(String(done.output)), { i: 5 });
    const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM instances WHERE name = 'Debounced'`);
    assert.equal(rows[0].n, 1);
  });

  it('debounce: maxWaitSeconds starts it even while starts keep coming', async () => {
    const first = (await start('DebouncedCapped', { i: 0 })).body.id as string;
    const began = Date.now();
    let i = 0;
    while ((await hub.client.get(first))?.runtimeStatus === 'Pending' && Date.now() - began < 8000) {
      await start('DebouncedCapped', { i: ++i });
      await new Promise((r) => setTimeout(r, 300));
    }
    const waited = Date.now() - began;
    assert.ok(waited < 4500, `started within maxWaitSeconds (2 s) plus the sweep, waited ${waited} ms`);
    assert.equal((await ended(first)).runtimeStatus, 'Completed');
  });

  it('debounce with a limit: the collapsed instance then takes a slot (or queues)', async () => {
    // `a` holds the one slot until it is terminated below, however slow the machine is.
    const a = (await start('DebouncedLimited', { ms: 600_000, n: 'a' })).body.id as string;
    await waitForInstance(hub, a, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
    const b1 = (await start('DebouncedLimited', { ms: 10, n: 'b1' })).body.id as string;
    const b2 = (await start('DebouncedLimited', { ms: 10, n: 'b2' })).body.id as string;
    assert.equal(b1, b2);
    await waitForInstance(hub, b1, (r) => r.queuedSeq !== null && r.queuedSeq !== undefined);
    assert.equal((await status(b1)).waiting.reason, 'concurrency');
    await hub.client.terminate(a, 'make room');
    const done = await ended(b1);
    assert.deepEqual(JSON.parse(String(done.output)), { ms: 10, n: 'b2' });
    const wa = await runWindow(a);
    assert.ok((await runWindow(b1)).started >= wa.ended);
  });

  it('sub-orchestrations: a queue child waits for its slot; a fail child whose key is full fails its task', async () => {
    const parent = (await start('QueueingParent', 300)).body.id as string;
    const done = await ended(parent);
    assert.equal(done.runtimeStatus, 'Completed', String(done.output));
    const children = [`${parent}:0`, `${parent}:1`];
    const [w1, w2] = await Promise.all(children.map(runWindow));
    assert.ok(w1!.started >= w2!.ended || w2!.started >= w1!.ended, 'the two children never overlapped');
    const holder = (await start('LimitedOne', null)).body.id as string;
    const refused = await ended((await start('FailingParent', null)).body.id as string);
    assert.match(String(refused.output), /refused: .*single-instance/);
    await hub.client.terminate(holder, 'done');
  });

  it('a policy that cannot apply is a 400 and writes nothing', async () => {
    const before = (await hub.pool.query(`SELECT count(*)::int AS n FROM instances`)).rows[0].n;
    const noLimit = await start('HelloSequence', null, '?onConflict=queue');
    assert.equal(noLimit.status, 400);
    assert.match(String(noLimit.body.Message), /needs a concurrency limit/);
    assert.equal((await start('QueuedRun', null, '?onConflict=debounce')).status, 400);
    assert.equal((await start('QueuedRun', null, '?onConflict=whenever')).status, 400);
    assert.equal((await hub.pool.query(`SELECT count(*)::int AS n FROM instances`)).rows[0].n, before);
  });
});

/** GET instances/{id} (status, history), GET instances (query, paging) and purges, against a real hub. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { assertErrorBody, assertNoInternals, BASE, body, buildHttpApp, instanceIn, snapshot, startAndWaitFor, uid } from './support.ts';

/** Polls a database condition (what pg-boss did is only visible there). */
async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const STATUS_KEYS = ['name', 'instanceId', 'runtimeStatus', 'input', 'customStatus', 'output', 'createdTime', 'lastUpdatedTime'];
const WHOLE_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const WITH_FRACTIONS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/;

describe('instances', () => {
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url: `${BASE}/${path}`, headers });

  describe('status', () => {
    it('404 with an empty body for an unknown instance', async () => {
      const res = await get(`instances/${uid('missing')}`);
      assert.equal(res.statusCode, 404);
      assert.equal(res.body, '');
    });

    it('active: 202 with the payload, Location (the request URL) and Retry-After 5', async () => {
      const id = await instanceIn(hub, 'active');
      const res = await get(`instances/${id}?showInput=true&taskHub=TaskHub`, { host: 'poll.test:9000' });
      assert.equal(res.statusCode, 202);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(res.headers.location, `http://poll.test:9000${BASE}/instances/${id}?showInput=true&taskHub=TaskHub`);
      assert.equal(res.headers['retry-after'], '5');
      const s = body(res);
      assert.deepEqual(Object.keys(s), STATUS_KEYS);
      assert.equal(s.name, 'Approval');
      assert.equal(s.instanceId, id);
      assert.equal(s.runtimeStatus, 'Running');
      assert.deepEqual(s.input, { timeoutSeconds: 3600 });
      assert.equal(s.customStatus, 'waiting for approval');
      assert.equal(s.output, null);
      assert.match(s.createdTime, WHOLE_SECONDS);
      assert.match(s.lastUpdatedTime, WHOLE_SECONDS);
    });

    it('suspended: 202', async () => {
      const res = await get(`instances/${await instanceIn(hub, 'suspended')}`);
      assert.equal(res.statusCode, 202);
      assert.equal(body(res).runtimeStatus, 'Suspended');
      assert.ok(res.headers.location);
    });

    it('completed: 200 with the output, no Location', async () => {
      const id = await instanceIn(hub, 'completed');
      const res = await get(`instances/${id}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers.location, undefined);
      assert.equal(res.headers['retry-after'], undefined);
      const s = body(res);
      assert.deepEqual(Object.keys(s), STATUS_KEYS);
      assert.equal(s.runtimeStatus, 'Completed');
      assert.equal(s.input, null);
      assert.deepEqual(s.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    });

    it('failed: 200 with the failure text as output; 500 with returnInternalServerErrorOnFailure, still without internals', async () => {
      const id = await instanceIn(hub, 'failed');
      const res = await get(`instances/${id}`);
      assert.equal(res.statusCode, 200);
      assert.equal(body(res).runtimeStatus, 'Failed');
      assert.equal(body(res).output, "Orchestrator function 'RewindDemo' failed: Activity function 'FailOnce' failed: FailOnce fails on its first execution for each instance");
      const strict = await get(`instances/${id}?returnInternalServerErrorOnFailure=TRUE&showHistory=true&showHistoryOutput=true`);
      assert.equal(strict.statusCode, 500);
      assert.equal(body(strict).runtimeStatus, 'Failed');
      assert.ok(Array.isArray(body(strict).historyEvents));
      assertNoInternals(strict.body);
    });

    it('terminated: 200 with the reason as output', async () => {
      const id = await instanceIn(hub, 'active');
      await hub.client.terminate(id, 'no longer needed');
      const res = await get(`instances/${id}`);
      assert.equal(res.statusCode, 200);
      assert.equal(body(res).runtimeStatus, 'Terminated');
      assert.equal(body(res).output, 'no longer needed');
    });

    it('showInput=false gives input null; booleans are lenient and parameter names case-insensitive', async () => {
      const id = await instanceIn(hub, 'active');
      assert.equal(body(await get(`instances/${id}?showInput=false`)).input, null);
      assert.equal(body(await get(`instances/${id}?SHOWINPUT=False`)).input, null);
      assert.deepEqual(body(await get(`instances/${id}?showInput=nope`)).input, { timeoutSeconds: 3600 }, 'not a boolean: the default');
      assert.deepEqual(body(await get(`instances/${id}?showHistory=1`)).historyEvents, undefined, 'not a boolean: the default');
      assert.ok(Array.isArray(body(await get(`instances/${id}?ShowHistory=TRUE`)).historyEvents));
    });

    it('accepts URL-encoded IDs', async () => {
      const id = `a b+c ${uid()}`;
      await startAndWaitFor(hub, 'HelloSequence', undefined, id, (s) => s === 'Completed');
      const res = await get(`instances/${encodeURIComponent(id)}`);
      assert.equal(res.statusCode, 200);
      assert.equal(body(res).instanceId, id);
    });
  });

  describe('history', () => {
    it('shows HelloSequence as Durable Functions does: merged task rows, no Result unless asked', async () => {
      const id = uid('hist');
      await startAndWaitFor(hub, 'HelloSequence', { greeting: 'hi' }, id, (s) => s === 'Completed');
      const events = body(await get(`instances/${id}?showHistory=true`)).historyEvents;
      assert.deepEqual(
        events.map((e: { EventType: string }) => e.EventType),
        ['ExecutionStarted', 'TaskCompleted', 'TaskCompleted', 'TaskCompleted', 'ExecutionCompleted'],
      );
      assert.deepEqual(events[0].FunctionName, 'HelloSequence');
      assert.deepEqual(events[0].Input, { greeting: 'hi' });
      for (const [i, city] of ['Tokyo', 'Seattle', 'London'].entries()) {
        const e = events[i + 1];
        assert.equal(e.FunctionName, 'SayHello');
        assert.equal(e.Input, city);
        assert.match(e.ScheduledTime, WITH_FRACTIONS);
        assert.match(e.Timestamp, WITH_FRACTIONS);
        assert.ok(e.ScheduledTime <= e.Timestamp);
        assert.equal('Result' in e, false);
      }
      assert.equal(events[4].OrchestrationStatus, 'Completed');
      assert.equal('Result' in events[4], false);

      const withOutput = body(await get(`instances/${id}?showHistory=true&showHistoryOutput=true`)).historyEvents;
      assert.deepEqual(
        withOutput.slice(1, 4).map((e: { Result: string }) => e.Result),
        ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!'],
      );
      assert.deepEqual(withOutput[4].Result, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);

      const noInput = await get(`instances/${id}?showHistory=true&showHistoryOutput=true&showInput=false`);
      assert.doesNotMatch(noInput.body, /"Input"/);
      assert.equal(body(noInput).input, null);
    });

    it('shows a failure: TaskFailed with its Reason, FailureDetails; stack traces only with showHistoryOutput', async () => {
      const id = await instanceIn(hub, 'failed');
      const plain = await get(`instances/${id}?showHistory=true`);
      const events = body(plain).historyEvents;
      const failed = events.find((e: { EventType: string }) => e.EventType === 'TaskFailed');
      assert.equal(failed.FunctionName, 'FailOnce');
      assert.equal(failed.Reason, 'FailOnce fails on its first execution for each instance');
      const completed = events.at(-1);
      assert.equal(completed.EventType, 'ExecutionCompleted');
      assert.equal(completed.OrchestrationStatus, 'Failed');
      assert.equal(completed.FailureDetails.ErrorType, 'TaskFailedError');
      assertNoInternals(plain.body);
      const detailed = body(await get(`instances/${id}?showHistory=true&showHistoryOutput=true`)).historyEvents;
      assert.match(detailed.find((e: { EventType: string }) => e.EventType === 'TaskFailed').Details, /FailOnce fails/);
    });

    it('shows timers and raised events', async () => {
      const id = await instanceIn(hub, 'active');
      await hub.client.raiseEvent(id, 'Approval', 'false');
      await waitForInstance(hub, id);
      const events = body(await get(`instances/${id}?showHistory=true&showHistoryOutput=true`)).historyEvents;
      const timer = events.find((e: { EventType: string }) => e.EventType === 'TimerCreated');
      assert.match(timer.FireAt, WITH_FRACTIONS);
      const raised = events.find((e: { EventType: string }) => e.EventType === 'EventRaised');
      assert.equal(raised.Name, 'Approval');
      assert.equal(raised.Input, false);
      assert.equal(events.at(-1).Result, 'rejected');
      assert.equal(events.some((e: { EventType: string }) => e.EventType === 'OrchestratorStarted'), false);
    });
  });

  describe('query', () => {
    /** Every page of a listing, following x-ms-continuation-token. */
    async function allPages(query: string): Promise<{ pages: any[][]; tokens: string[] }> {
      const pages: any[][] = [];
      const tokens: string[] = [];
      let token: string | undefined;
      for (let i = 0; i < 100; i++) {
        const res = await get(`instances?${query}`, token ? { 'x-ms-continuation-token': token } : {});
        assert.equal(res.statusCode, 200, res.body);
        pages.push(body(res));
        token = res.headers['x-ms-continuation-token'] as string | undefined;
        if (!token) return { pages, tokens };
        tokens.push(token);
      }
      throw new Error('the listing never ended');
    }

    const prefix = uid('page');
    const ids: string[] = [];

    before(async () => {
      for (let i = 0; i < 7; i++) {
        const id = `${prefix}-${i}`;
        await startAndWaitFor(hub, 'HelloSequence', { i }, id, (s) => s === 'Completed');
        ids.push(id);
      }
    });

    it('pages through with a continuation token until it is absent; no duplicates, none missed, oldest first', async () => {
      const { pages, tokens } = await allPages(`instanceIdPrefix=${prefix}&top=3`);
      assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
      assert.equal(tokens.length, 2);
      const listed = pages.flat();
      assert.deepEqual(listed.map((s) => s.instanceId), ids);
      for (const s of listed) assert.deepEqual(Object.keys(s), STATUS_KEYS, 'never with history');
      assert.deepEqual(listed[2].input, { i: 2 });
    });

    it('keeps its place when instances are created between pages', async () => {
      const first = await get(`instances?instanceIdPrefix=${prefix}&top=4`);
      const token = first.headers['x-ms-continuation-token'] as string;
      assert.ok(token);
      const late = `${prefix}-late`;
      await startAndWaitFor(hub, 'HelloSequence', undefined, late, (s) => s === 'Completed');
      const rest = await get(`instances?instanceIdPrefix=${prefix}&top=100`, { 'x-ms-continuation-token': token });
      assert.equal(rest.headers['x-ms-continuation-token'], undefined);
      assert.deepEqual(
        [...body(first), ...body(rest)].map((s: { instanceId: string }) => s.instanceId),
        [...ids, late],
      );
      await hub.client.purge(late);
    });

    it('an empty token starts at the beginning; a forged or corrupt one is a 400', async () => {
      const res = await get(`instances?instanceIdPrefix=${prefix}&top=2`, { 'x-ms-continuation-token': '' });
      assert.deepEqual(body(res).map((s: { instanceId: string }) => s.instanceId), ids.slice(0, 2));
      const forged = [
        'garbage!',
        Buffer.from('{"v":1,"c":"2024-02-30T00:00:00.000000Z","i":"x"}').toString('base64url'),
        Buffer.from("{\"v\":1,\"c\":\"x'; DROP TABLE instances; --\",\"i\":\"x\"}").toString('base64url'),
        Buffer.from('[1,2,3]').toString('base64url'),
      ];
      for (const token of forged) {
        assertErrorBody(await get(`instances?top=2`, { 'x-ms-continuation-token': token }), 400, 'INVALID_CONTINUATION_TOKEN');
      }
    });

    it('filters by runtimeStatus: comma-separated, repeated, names or codes; an unknown token is a 400 naming it', async () => {
      const active = await instanceIn(hub, 'active', `${prefix}-x`);
      const names = async (q: string) => body(await get(`instances?instanceIdPrefix=${prefix}&${q}`)).map((s: { instanceId: string }) => s.instanceId);
      assert.deepEqual(await names('runtimeStatus=Running'), [active]);
      assert.deepEqual(await names('runtimeStatus=0'), [active]);
      assert.deepEqual(await names('runtimeStatus=running,'), [active], 'an empty token (a trailing comma) is no token');
      for (const q of ['runtimeStatus=running,bogus', 'runtimeStatus=bogus', 'runtimeStatus=Complted', 'runtimeStatus=8', 'runtimeStatus=1&runtimeStatus=x']) {
        const err = assertErrorBody(await get(`instances?${q}`), 400, 'VALIDATION');
        assert.equal((err as { parameter?: string }).parameter, 'runtimeStatus');
        const token = /=([^=,&]*)$/.exec(q.replace('running,', ''))?.[1] ?? '';
        assert.ok(err.Message.includes(`'${token}'`), `${q}: ${err.Message}`);
      }
      assert.deepEqual(await names('RuntimeStatus=Completed'), ids);
      assert.deepEqual(await names('runtimeStatus=Completed,Running'), [...ids, active]);
      assert.deepEqual(await names('runtimeStatus=1&runtimeStatus=0'), [...ids, active]);
      assert.deepEqual(await names('runtimeStatus=Failed,Terminated'), []);
      await hub.client.terminate(active, 'done');
    });

    it('filters by created time, both ends inclusive', async () => {
      // Creation times to the second (stored ones have microseconds), so that the bounds can be hit exactly.
      for (const [i, id] of ids.entries()) {
        await hub.pool.query(`UPDATE instances SET created_at = $2 WHERE instance_id = $1`, [id, `2001-01-01T00:00:0${i}Z`]);
      }
      const names = async (q: string) =>
        body(await get(`instances?instanceIdPrefix=${prefix}&runtimeStatus=Completed&${q}`)).map((s: { instanceId: string }) => s.instanceId);
      assert.deepEqual(await names('createdTimeFrom=2001-01-01T00:00:02Z&createdTimeTo=2001-01-01T00:00:04Z'), ids.slice(2, 5));
      assert.deepEqual(await names('createdTimeFrom=2001-01-01T01:00:02%2B01:00&createdTimeTo=2001-01-01T00:00:04.000'), ids.slice(2, 5));
      assert.deepEqual(await names('createdTimeFrom=2001-01-01T00:00:06Z'), ids.slice(6));
      assert.deepEqual(await names('createdTimeTo=2001-01-01T00:00:00Z'), ids.slice(0, 1));
      assert.deepEqual(await names('createdTimeTo=2000-12-31'), []);
      assert.deepEqual(await names('createdTimeFrom=2001-01-01'), ids);
      const s = body(await get(`instances/${ids[3]}`));
      assert.equal(s.createdTime, '2001-01-01T00:00:03Z');
    });

    it('showInput=false leaves inputs out of the listing', async () => {
      const list = body(await get(`instances?instanceIdPrefix=${prefix}&runtimeStatus=Completed&showInput=false`));
      assert.equal(list.length, ids.length);
      for (const s of list) assert.equal(s.input, null);
    });

    it('refuses bad top values and bad dates with a 400', async () => {
      for (const top of ['0', '-1', 'abc', '1.5', '1001', '']) {
        assertErrorBody(await get(`instances?top=${top}`), 400, 'VALIDATION');
      }
      for (const date of ['yesterday', '2024-02-30T00:00:00Z', '2024-13-01', '12']) {
        assertErrorBody(await get(`instances?createdTimeFrom=${encodeURIComponent(date)}`), 400, 'VALIDATION');
        assertErrorBody(await get(`instances?createdTimeTo=${encodeURIComponent(date)}`), 400, 'VALIDATION');
      }
    });

    it('lists everything without filters (the default page size is 100)', async () => {
      const res = await get('instances');
      assert.equal(res.statusCode, 200);
      const total = Number((await hub.pool.query('SELECT count(*) AS n FROM instances')).rows[0].n);
      assert.equal(body(res).length, Math.min(100, total));
    });
  });

  describe('purge', () => {
    it('purges one terminal instance: 200 {instancesDeleted: 1}, then 404', async () => {
      for (const state of ['completed', 'failed'] as const) {
        const id = await instanceIn(hub, state);
        const res = await app.inject({ method: 'DELETE', url: `${BASE}/instances/${id}` });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(body(res), { instancesDeleted: 1 });
        assert.equal((await get(`instances/${id}`)).statusCode, 404);
        const left = await hub.pool.query('SELECT (SELECT count(*) FROM history WHERE instance_id = $1) AS h, (SELECT count(*) FROM inbox WHERE instance_id = $1) AS i', [id]);
        assert.deepEqual(left.rows[0], { h: '0', i: '0' });
        assertErrorBody(await app.inject({ method: 'DELETE', url: `${BASE}/instances/${id}` }), 404, 'INSTANCE_NOT_FOUND');
      }
    });

    it('terminates and purges an active or suspended instance in one transaction: 200, then nothing is left', async () => {
      for (const state of ['active', 'suspended'] as const) {
        const id = await instanceIn(hub, state);
        const res = await app.inject({ method: 'DELETE', url: `${BASE}/instances/${id}` });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(body(res), { instancesDeleted: 1 });
        assert.equal(await hub.client.get(id), undefined);
        const left = await hub.pool.query('SELECT (SELECT count(*) FROM history WHERE instance_id = $1) AS h, (SELECT count(*) FROM inbox WHERE instance_id = $1) AS i', [id]);
        assert.deepEqual(left.rows[0], { h: '0', i: '0' });
      }
    });

    it('purging a fan-out mid-way cancels its queued and running activity jobs: no job is left to run', async () => {
      const id = uid('purge-fan');
      await hub.client.start({ name: 'SlowFanOut', instanceId: id, input: JSON.stringify({ count: 60, ms: 2000 }) });
      const jobs = async () =>
        Object.fromEntries(
          (
            await hub.pool.query<{ state: string; n: number }>(
              `SELECT state, count(*)::int AS n FROM ${hub.config.schema}_boss.job WHERE data->>'instanceId' = $1 GROUP BY state`,
              [id],
            )
          ).rows.map((r) => [r.state, r.n]),
        );
      await until('activities to be running', async () => ((await jobs()).active ?? 0) > 0);
      const res = await app.inject({ method: 'DELETE', url: `${BASE}/instances/${id}` });
      assert.equal(res.statusCode, 200, res.body);
      const byState = await jobs();
      assert.equal((byState.created ?? 0) + (byState.active ?? 0) + (byState.retry ?? 0), 0, `nothing left to run: ${JSON.stringify(byState)}`);
      assert.ok((byState.cancelled ?? 0) > 0, JSON.stringify(byState));
      assert.equal(await hub.client.get(id), undefined);
    });

    it('purge many: createdTimeFrom is required', async () => {
      const before = await snapshot(hub);
      for (const q of ['', '?createdTimeFrom=', '?CreatedTimeTo=2099-01-01T00:00:00Z']) {
        const err = assertErrorBody(await app.inject({ method: 'DELETE', url: `${BASE}/instances${q}` }), 400, 'VALIDATION');
        assert.equal(err.Message, "Please provide value for 'createdTimeFrom' parameter.");
      }
      assertErrorBody(await app.inject({ method: 'DELETE', url: `${BASE}/instances?createdTimeFrom=soon` }), 400, 'VALIDATION');
      assert.deepEqual(await snapshot(hub), before);
    });

    it('purge many: a runtimeStatus that names no status is a 400 naming the token, and deletes nothing', async () => {
      await instanceIn(hub, 'completed');
      await instanceIn(hub, 'failed');
      const before = await snapshot(hub);
      for (const status of ['Complted', 'Completed,Faild', 'completed%2C%20nope', '42']) {
        const url = `${BASE}/instances?createdTimeFrom=2020-01-01T00:00:00Z&runtimeStatus=${status}`;
        const err = assertErrorBody(await app.inject({ method: 'DELETE', url }), 400, 'VALIDATION');
        const bad = decodeURIComponent(status).split(',').map((t) => t.trim()).find((t) => !['Completed', 'completed'].includes(t));
        assert.ok(err.Message.includes(`'${bad}'`), err.Message);
      }
      assert.deepEqual(await snapshot(hub), before);
    });

    it('purge many: the terminal instances created in the range (filtered by status), 404 when none', async () => {
      const from = new Date().toISOString();
      const completed = [await instanceIn(hub, 'completed'), await instanceIn(hub, 'completed')];
      const failed = await instanceIn(hub, 'failed');
      const active = await instanceIn(hub, 'active');
      const to = new Date().toISOString();
      const older = body(await get('instances?top=1000')).length;

      const byStatus = await app.inject({ method: 'DELETE', url: `${BASE}/instances?createdTimeFrom=${from}&createdTimeTo=${to}&runtimeStatus=Failed` });
      assert.equal(byStatus.statusCode, 200);
      assert.deepEqual(body(byStatus), { instancesDeleted: 1 });
      assert.equal(await hub.client.get(failed), undefined);

      const rest = await app.inject({ method: 'DELETE', url: `${BASE}/instances?createdTimeFrom=${from}&createdTimeTo=${to}` });
      assert.deepEqual(body(rest), { instancesDeleted: 2 });
      for (const id of completed) assert.equal(await hub.client.get(id), undefined);
      assert.equal((await hub.client.get(active))?.runtimeStatus, 'Running', 'active instances are never purged');
      assert.equal(body(await get('instances?top=1000')).length, older - 3, 'nothing outside the range');

      const none = await app.inject({ method: 'DELETE', url: `${BASE}/instances?createdTimeFrom=${from}&createdTimeTo=${to}` });
      assertErrorBody(none, 404);
      await hub.client.terminate(active, 'done');
    });
  });
});

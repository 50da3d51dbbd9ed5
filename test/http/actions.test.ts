/**
 * Every operation in every state (the operation × state matrix of the contract), and what the
 * instance actions do: raiseEvent, terminate, suspend, resume, rewind, restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { App } from '../../src/app.ts';
import { dispatcherPassedBy, startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { assertErrorBody, BASE, body, buildHttpApp, instanceIn, snapshot, type State, uid } from './support.ts';

type Op = 'start-with-id' | 'status' | 'purge' | 'raiseEvent' | 'terminate' | 'suspend' | 'resume' | 'rewind' | 'restart' | 'restart-same-id';

const STATES: State[] = ['missing', 'active', 'suspended', 'completed', 'failed'];

/** The contract, as a table: the status each operation answers in each state. */
const MATRIX: Record<Op, Record<State, number>> = {
  'start-with-id': { missing: 202, active: 409, suspended: 409, completed: 202, failed: 202 },
  status: { missing: 404, active: 202, suspended: 202, completed: 200, failed: 200 },
  purge: { missing: 404, active: 200, suspended: 200, completed: 200, failed: 200 },
  raiseEvent: { missing: 404, active: 202, suspended: 202, completed: 410, failed: 410 },
  terminate: { missing: 404, active: 202, suspended: 202, completed: 410, failed: 410 },
  suspend: { missing: 404, active: 202, suspended: 409, completed: 410, failed: 410 },
  resume: { missing: 404, active: 409, suspended: 202, completed: 410, failed: 410 },
  rewind: { missing: 404, active: 412, suspended: 412, completed: 410, failed: 202 },
  // An unknown id: 400, as Durable Functions answers it (its RestartAsync throws an ArgumentException).
  restart: { missing: 400, active: 202, suspended: 202, completed: 202, failed: 202 },
  'restart-same-id': { missing: 400, active: 409, suspended: 409, completed: 202, failed: 202 },
};

/** The statuses an instance may have right after a successful operation (undefined: gone). */
const AFTER: Partial<Record<Op, Array<string | undefined>>> = {
  terminate: ['Terminated'],
  suspend: ['Suspended'],
  resume: ['Running'],
  purge: [undefined],
  rewind: ['Running', 'Completed'],
  'start-with-id': ['Pending', 'Running'],
  'restart-same-id': ['Pending', 'Running', 'Completed', 'Failed'],
};

describe('operation × state matrix', () => {
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

  function request(op: Op, id: string): Promise<LightMyRequestResponse> {
    const instance = `${BASE}/instances/${id}`;
    const post = (url: string, payload?: string, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload, headers });
    switch (op) {
      case 'start-with-id':
        return post(`${BASE}/orchestrators/Approval/${id}`, '{"timeoutSeconds":3600}', { 'content-type': 'application/json' });
      case 'status':
        return app.inject({ method: 'GET', url: instance });
      case 'purge':
        return app.inject({ method: 'DELETE', url: instance });
      case 'raiseEvent':
        return post(`${instance}/raiseEvent/Approval`, 'true', { 'content-type': 'application/json' });
      case 'restart':
        return post(`${instance}/restart`);
      case 'restart-same-id':
        return post(`${instance}/restart?restartWithNewInstanceId=false`);
      default:
        return post(`${instance}/${op}?reason=matrix`);
    }
  }

  for (const op of Object.keys(MATRIX) as Op[]) {
    it(`${op}: ${STATES.map((s) => `${s} → ${MATRIX[op][s]}`).join(', ')}`, async () => {
      const ids = await Promise.all(STATES.map((state) => instanceIn(hub, state, `${op}-${state}`)));
      for (const [i, state] of STATES.entries()) {
        const id = ids[i] as string;
        const expected = MATRIX[op][state];
        const before = await hub.client.get(id);
        const res = await request(op, id);
        assert.equal(res.statusCode, expected, `${op} on ${state}: ${res.body}`);
        const now = await hub.client.get(id);
        if (expected >= 400) {
          if (op !== 'status' || state !== 'missing') assertErrorBody(res, expected);
          else assert.equal(res.body, '');
          assert.deepEqual(now, before, `${op} on ${state} changed the instance`);
          continue;
        }
        const allowed = AFTER[op];
        if (allowed) assert.ok(allowed.includes(now?.runtimeStatus), `${op} on ${state}: now ${now?.runtimeStatus}`);
        if (op === 'restart') assert.equal(now?.runtimeStatus, before?.runtimeStatus, 'the restarted instance itself is untouched');
        if (op === 'restart' || op === 'restart-same-id' || op === 'start-with-id') {
          assert.equal(body(res).id === id, op !== 'restart', `${op} on ${state}: ${res.body}`);
        }
      }
      // Leave nothing running behind.
      for (const row of await Promise.all(ids.map((id) => hub.client.get(id)))) {
        if (row && !['Completed', 'Failed', 'Terminated'].includes(row.runtimeStatus)) {
          await hub.client.terminate(row.instanceId, 'cleanup').catch(() => undefined); // it may have just ended
        }
      }
    });
  }
});

describe('operation × state matrix: Pending', () => {
  // An API-only hub runs no turns: what it starts stays Pending, deterministically.
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub({ env: { TASKHUB_ROLE: 'api' } });
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  const PENDING: Array<[string, (id: string) => InjectOptions, number, string | undefined]> = [
    ['start-with-id', (id) => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence/${id}` }), 409, 'Pending'],
    ['status', (id) => ({ method: 'GET', url: `${BASE}/instances/${id}` }), 202, 'Pending'],
    ['purge', (id) => ({ method: 'DELETE', url: `${BASE}/instances/${id}` }), 200, undefined],
    ['raiseEvent', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/raiseEvent/E`, payload: '1', headers: { 'content-type': 'application/json' } }), 202, 'Pending'],
    ['terminate', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/terminate?reason=x` }), 202, 'Terminated'],
    ['suspend', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/suspend` }), 202, 'Suspended'],
    ['resume', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/resume` }), 409, 'Pending'],
    ['rewind', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/rewind` }), 412, 'Pending'],
    ['restart', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/restart` }), 202, 'Pending'],
    ['restart-same-id', (id) => ({ method: 'POST', url: `${BASE}/instances/${id}/restart?restartWithNewInstanceId=false` }), 409, 'Pending'],
  ];

  for (const [op, make, expected, statusAfter] of PENDING) {
    it(`${op}: pending → ${expected}`, async () => {
      const id = uid(`pending-${op}`);
      await hub.client.start({ name: 'HelloSequence', instanceId: id, input: undefined });
      const before = await hub.client.get(id);
      const res = await app.inject(make(id));
      assert.equal(res.statusCode, expected, res.body);
      if (expected >= 400) {
        assertErrorBody(res, expected);
        assert.deepEqual(await hub.client.get(id), before);
      }
      assert.equal((await hub.client.get(id))?.runtimeStatus, statusAfter);
    });
  }

  it('a Pending instance suspended and resumed is Pending again', async () => {
    const id = uid('pending');
    await hub.client.start({ name: 'HelloSequence', instanceId: id, input: undefined });
    assert.equal((await app.inject({ method: 'POST', url: `${BASE}/instances/${id}/suspend` })).statusCode, 202);
    assert.equal((await app.inject({ method: 'POST', url: `${BASE}/instances/${id}/resume` })).statusCode, 202);
    assert.equal((await hub.client.get(id))?.runtimeStatus, 'Pending');
  });
});

describe('instance actions', () => {
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

  const post = (path: string, payload?: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `${BASE}/instances/${path}`, payload, headers });
  const JSON_CT = { 'content-type': 'application/json' };

  describe('raiseEvent', () => {
    it('delivers the event: 202 with an empty body', async () => {
      const id = await instanceIn(hub, 'active');
      const res = await post(`${id}/raiseEvent/Approval`, 'true', { 'content-type': 'application/json; charset=utf-8' });
      assert.equal(res.statusCode, 202);
      assert.equal(res.body, '');
      const row = await waitForInstance(hub, id);
      assert.equal(JSON.parse(row.output as string), 'approved');
    });

    it('checks in order: 404, then 410, then Content-Type, then JSON', async () => {
      const before = await snapshot(hub);
      const missing = uid('missing');
      assertErrorBody(await post(`${missing}/raiseEvent/Approval`, 'not json', { 'content-type': 'text/plain' }), 404, 'INSTANCE_NOT_FOUND');
      assertErrorBody(await post(`${missing}/raiseEvent/Approval`), 404, 'INSTANCE_NOT_FOUND');
      assert.deepEqual(await snapshot(hub), before);
      for (const state of ['completed', 'failed'] as const) {
        const done = await instanceIn(hub, state);
        const snap = await snapshot(hub);
        assertErrorBody(await post(`${done}/raiseEvent/Approval`, 'not json', { 'content-type': 'text/plain' }), 410, 'INSTANCE_GONE');
        assertErrorBody(await post(`${done}/raiseEvent/Approval`, 'true', JSON_CT), 410, 'INSTANCE_GONE');
        assert.deepEqual(await snapshot(hub), snap);
      }
      const active = await instanceIn(hub, 'active');
      const snap = await snapshot(hub);
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, 'not json', { 'content-type': 'text/plain' }), 400, 'INVALID_CONTENT_TYPE');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, 'true'), 400, 'INVALID_CONTENT_TYPE');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, 'true', { 'content-type': 'application/jsonx' }), 400, 'INVALID_CONTENT_TYPE');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, 'true', { 'content-type': '%%%' }), 400, 'INVALID_CONTENT_TYPE');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, 'not json', JSON_CT), 400, 'INVALID_JSON');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, '', JSON_CT), 400, 'INVALID_JSON');
      assertErrorBody(await post(`${active}/raiseEvent/Approval`, '{"a":', JSON_CT), 400, 'INVALID_JSON');
      assertErrorBody(await post(`${active}/raiseEvent/bad%00name`, 'true', JSON_CT), 400, 'VALIDATION');
      assert.deepEqual(await snapshot(hub), snap);
      await hub.client.terminate(active, 'done');
    });

    it('keeps events raised to a suspended instance and delivers them on resume', async () => {
      const id = await instanceIn(hub, 'suspended');
      assert.equal((await post(`${id}/raiseEvent/Approval`, 'false', JSON_CT)).statusCode, 202);
      await dispatcherPassedBy(hub);
      assert.equal((await hub.client.get(id))?.runtimeStatus, 'Suspended', 'not delivered while suspended');
      assert.equal((await post(`${id}/resume?reason=go`)).statusCode, 202);
      const row = await waitForInstance(hub, id);
      assert.equal(JSON.parse(row.output as string), 'rejected');
    });
  });

  it('terminate: Terminated, the reason as output, an ExecutionTerminated event; empty 202', async () => {
    const id = await instanceIn(hub, 'active');
    const res = await post(`${id}/terminate?reason=${encodeURIComponent('enough & more')}`);
    assert.equal(res.statusCode, 202);
    assert.equal(res.body, '');
    const status = body(await app.inject({ method: 'GET', url: `${BASE}/instances/${id}?showHistory=true` }));
    assert.equal(status.runtimeStatus, 'Terminated');
    assert.equal(status.output, 'enough & more');
    assert.deepEqual(status.historyEvents.at(-1), { EventType: 'ExecutionTerminated', Timestamp: status.historyEvents.at(-1).Timestamp, Input: 'enough & more' });
  });

  it('terminate without a reason: output null', async () => {
    const id = await instanceIn(hub, 'suspended');
    assert.equal((await post(`${id}/terminate`)).statusCode, 202);
    assert.equal(body(await app.inject({ method: 'GET', url: `${BASE}/instances/${id}` })).output, null);
  });

  it('suspend and resume record their reasons; wrong states are 409 with a message', async () => {
    const id = await instanceIn(hub, 'active');
    assert.equal((await post(`${id}/suspend?reason=lunch`)).statusCode, 202);
    const again = assertErrorBody(await post(`${id}/suspend`), 409, 'WRONG_STATE');
    assert.match(again.Message, /already Suspended/);
    assert.equal((await post(`${id}/resume?reason=back`)).statusCode, 202);
    assertErrorBody(await post(`${id}/resume`), 409, 'WRONG_STATE');
    const events = body(await app.inject({ method: 'GET', url: `${BASE}/instances/${id}?showHistory=true` })).historyEvents;
    const reasons = events.filter((e: { EventType: string }) => e.EventType.startsWith('ExecutionSus') || e.EventType.startsWith('ExecutionRes'));
    assert.deepEqual(reasons.map((e: { EventType: string; Reason: string }) => [e.EventType, e.Reason]), [
      ['ExecutionSuspended', 'lunch'],
      ['ExecutionResumed', 'back'],
    ]);
    await hub.client.terminate(id, 'done');
  });

  it('rewind: a failed instance runs the failed activity again and completes', async () => {
    const id = await instanceIn(hub, 'failed');
    assert.equal((await post(`${id}/rewind?reason=retry`)).statusCode, 202);
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Completed');
    assert.equal(JSON.parse(row.output as string), 'recovered');
    const events = body(await app.inject({ method: 'GET', url: `${BASE}/instances/${id}?showHistory=true` })).historyEvents;
    assert.ok(events.some((e: { EventType: string; Reason: string }) => e.EventType === 'ExecutionRewound' && e.Reason === 'retry'));
  });

  it('rewind: Completed or Terminated → 410, any other state but Failed → 412, each with a message', async () => {
    const completed = await instanceIn(hub, 'completed');
    const gone = assertErrorBody(await post(`${completed}/rewind`), 410, 'INSTANCE_GONE');
    assert.match(gone.Message, /Only failed orchestration instances can be rewound\. Instance '.*' is Completed\./);
    const terminated = await instanceIn(hub, 'active');
    await hub.client.terminate(terminated, 'stop');
    assertErrorBody(await post(`${terminated}/rewind`), 410, 'INSTANCE_GONE');
    const running = await instanceIn(hub, 'suspended');
    const err = assertErrorBody(await post(`${running}/rewind`), 412, 'PRECONDITION_FAILED');
    assert.match(err.Message, /is Suspended\.$/);
    await hub.client.terminate(running, 'cleanup');
  });

  it('restart: the same orchestration and input under a new ID by default, or the same ID', async () => {
    const id = uid('restart');
    const started = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence/${id}`, payload: '{"n":42}' });
    assert.equal(started.statusCode, 202);
    await waitForInstance(hub, id);
    const res = await post(`${id}/restart`, undefined, { host: 'restart.test' });
    assert.equal(res.statusCode, 202);
    const payload = body(res);
    assert.notEqual(payload.id, id);
    assert.equal(res.headers.location, payload.statusQueryGetUri);
    assert.ok(payload.statusQueryGetUri.startsWith('http://restart.test/'));
    assert.equal(res.headers['retry-after'], '10');
    const copy = await waitForInstance(hub, payload.id);
    assert.equal(copy.name, 'HelloSequence');
    assert.equal(copy.input, '{"n":42}');

    const same = await post(`${id}/restart?RestartWithNewInstanceId=FALSE`);
    assert.equal(same.statusCode, 202);
    assert.equal(body(same).id, id);
    const again = await waitForInstance(hub, id);
    assert.equal(again.input, '{"n":42}');
  });

  it('a reason with a NUL character is a 400, not a database error', async () => {
    const id = await instanceIn(hub, 'active');
    const snap = await snapshot(hub);
    for (const action of ['terminate', 'suspend', 'rewind']) {
      assertErrorBody(await post(`${id}/${action}?reason=a%00b`), 400, 'VALIDATION');
    }
    assert.deepEqual(await snapshot(hub), snap);
    await hub.client.terminate(id, 'done');
  });
});

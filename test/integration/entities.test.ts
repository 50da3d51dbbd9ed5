/**
 * Durable entities on real PostgreSQL: the turn (operations in arrival order, one at a time per
 * entity, state + results + signals in one transaction), callEntity and signalEntity from
 * orchestrations (replay-safe, with EventSent / EventRaised in history), an operation that throws
 * (its caller gets the error, the state is rolled back, later operations run), destructOnExit and
 * the built-in delete, entity-to-entity signals, and many orchestrations calling one entity at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EntityId } from '../../src/orchestrator/core/entities.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { signalFor } from '../../src/orchestrator/entity-runner.ts';
import { sendToEntities, wakeEntities } from '../../src/orchestrator/store/entities.ts';
import { startTestHub, type TestHub, waitForInstance, until } from '../helpers/hub.ts';
import { registerEntityFixtures } from '../fixtures/entity-fixtures.ts';


describe('durable entities', () => {
  let hub: TestHub;
  const state = async (name: string, key: string): Promise<unknown> => {
    const e = await hub.client.entities.get(name, key);
    return e === undefined ? undefined : JSON.parse(e.state as string);
  };
  before(async () => {
    hub = await startTestHub({ registry: registerEntityFixtures(new Registry()), env: { TASKHUB_ENTITY_OPERATION_TIMEOUT_MS: '500' } });
  });
  after(async () => {
    await hub?.close();
  });

  it('client signals run in arrival order, one at a time, and the state is kept', async () => {
    for (let i = 0; i < 50; i++) await hub.client.entities.signal('Ledger', 'order', 'append', JSON.stringify(i));
    const entries = (await until('50 entries', async () => {
      const s = (await state('Ledger', 'order')) as { entries: number[] } | undefined;
      return s && s.entries.length === 50 ? s : undefined;
    })) as { entries: number[]; maxRunning: number };
    assert.deepEqual(entries.entries, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(entries.maxRunning, 1, 'never two operations at once');
  });

  it('callEntity returns the result; history records EventSent and the answer as EventRaised', async () => {
    const started = await hub.client.start({ name: 'AddThrice', instanceId: 'add-thrice', input: JSON.stringify({ key: 'a' }) });
    assert.equal(started.kind, 'created');
    const row = await waitForInstance(hub, 'add-thrice');
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    assert.deepEqual(JSON.parse(row.output as string), [1, 3, 6]);
    assert.equal(await state('Counter', 'a'), 6);
    const found = await hub.client.status('add-thrice', { history: true });
    const types = found?.history?.map((e) => e.type) ?? [];
    assert.equal(types.filter((t) => t === 'EventSent').length, 3);
    const sent = found?.history?.find((e) => e.type === 'EventSent');
    assert.deepEqual(sent && { ...sent, timestamp: undefined }, { type: 'EventSent', taskId: 0, instanceId: '@counter@a', name: 'add', signal: false, payload: '1', timestamp: undefined });
    const answer = found?.history?.find((e) => e.type === 'EventRaised');
    assert.deepEqual(answer && { name: answer.name, payload: answer.payload }, { name: 'add', payload: JSON.stringify({ result: '1' }) });
  });

  it('an operation that throws: its caller gets the error, the state is rolled back, the next operations still run', async () => {
    await hub.client.start({ name: 'FailingCall', instanceId: 'failing-call', input: JSON.stringify({ key: 'b' }) });
    const row = await waitForInstance(hub, 'failing-call');
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    const out = JSON.parse(row.output as string);
    assert.equal(out.error, "Operation 'addThenThrow' of entity '@counter@b' failed: boom after adding 100");
    assert.equal(out.errorName, 'EntityOperationFailedError');
    assert.equal(out.after, 5, 'the +100 of the failed operation is rolled back; the +5 after it ran');
    assert.equal(await state('Counter', 'b'), 5);
  });

  it('in one batch: a throwing operation is rolled back alone (its state and its signals), the next ones apply', async () => {
    // Sent in one transaction, so one turn applies all three.
    const client = await hub.pool.connect();
    try {
      await client.query('BEGIN');
      const now = new Date().toISOString();
      await sendToEntities(client, [
        signalFor('@counter@batch', 'add', '1', now),
        signalFor('@counter@batch', 'addThenThrow', '100', now),
        signalFor('@counter@batch', 'add', '2', now),
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await wakeEntities(hub.pool, ['@counter@batch'], 'taskhub_wake');
    assert.equal(await until('batch', async () => ((await state('Counter', 'batch')) === 3 ? 3 : undefined)), 3);
    assert.equal(await hub.client.entities.get('Counter', 'batch-never'), undefined, "the failed operation's signal was not sent");
  });

  it('an operation that never settles times out: its caller gets EntityOperationTimeout, its state change is dropped, the entity goes on', async () => {
    await hub.client.start({ name: 'CallsHang', instanceId: 'calls-hang', input: undefined });
    const row = await waitForInstance(hub, 'calls-hang');
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    assert.match(JSON.parse(row.output as string), /^EntityOperationTimeout: Operation 'hang' of entity '@hangs@calls-hang' failed: the operation ran longer than 500 ms/);
    assert.equal(await state('Hangs', 'calls-hang'), 7);
  });

  it('a message delivered twice (same id) is applied once', async () => {
    const message = signalFor('@counter@twice', 'add', '1', new Date().toISOString());
    for (let i = 0; i < 2; i++) {
      const client = await hub.pool.connect();
      try {
        await sendToEntities(client, [message]);
      } finally {
        client.release();
      }
    }
    await wakeEntities(hub.pool, ['@counter@twice'], 'taskhub_wake');
    await until('twice', async () => ((await state('Counter', 'twice')) === 1 ? true : undefined));
    await hub.client.entities.signal('Counter', 'twice', 'add', '10');
    await until('eleven', async () => ((await state('Counter', 'twice')) === 11 ? true : undefined));
  });

  it('signalEntity from an orchestration, entity-to-entity signals, destructOnExit and delete', async () => {
    await hub.client.start({ name: 'SignalsAndForgets', instanceId: 'signals', input: JSON.stringify({ key: 'c' }) });
    assert.equal((await waitForInstance(hub, 'signals')).runtimeStatus, 'Completed');
    // The orchestration signalled Forwarder/c, which signalled Counter/c twice (entity → entity).
    assert.equal(await until('counter c', async () => ((await state('Counter', 'c')) === 20 ? 20 : undefined)), 20);
    await hub.client.entities.signal('Counter', 'c', 'destroy', undefined);
    await until('counter c destroyed', async () => ((await state('Counter', 'c')) === undefined ? true : undefined));
    assert.equal(await hub.client.entities.get('Counter', 'c'), undefined, 'no state: the entity does not exist for reads');
    await hub.client.entities.signal('Counter', 'd', 'add', '2');
    await until('counter d', async () => ((await state('Counter', 'd')) === 2 ? true : undefined));
    await hub.client.entities.signal('Counter', 'd', 'delete', undefined);
    await until('counter d deleted', async () => ((await state('Counter', 'd')) === undefined ? true : undefined));
  });

  it('entities are not instances: listings and counts leave them out; entity listings page by name and key', async () => {
    const page = await hub.client.list({}, 1000, undefined);
    assert.ok(page.rows.every((r) => !r.instanceId.startsWith('@')));
    assert.ok((await hub.client.counts()).every((c) => c.name !== 'counter' && c.name !== 'ledger'));
    for (const k of ['k1', 'k2', 'k3']) await hub.client.entities.signal('Counter', `list-${k}`, 'add', '1');
    await until('three counters', async () => ((await state('Counter', 'list-k3')) === 1 && (await state('Counter', 'list-k1')) === 1 ? true : undefined));
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const next = await hub.client.entities.list({ name: 'COUNTER' }, 2, after);
      seen.push(...next.rows.map((r) => r.instanceId));
      after = next.next;
    } while (after !== undefined);
    assert.deepEqual(seen, [...seen].sort());
    for (const k of ['k1', 'k2', 'k3']) assert.ok(seen.includes(`@counter@list-${k}`));
    assert.ok(!seen.includes('@counter@c'), 'a destroyed entity is not listed');
  });

  it('forty orchestrations calling one entity at once: every call answered, one operation at a time', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `many-${i}`);
    await Promise.all(ids.map((id, i) => hub.client.start({ name: 'AppendsOnce', instanceId: id, input: JSON.stringify({ key: 'shared', value: i }) })));
    const rows = await Promise.all(ids.map((id) => waitForInstance(hub, id)));
    assert.ok(rows.every((r) => r.runtimeStatus === 'Completed'), rows.map((r) => r.output).join());
    const s = (await state('Ledger', 'shared')) as { entries: number[]; maxRunning: number };
    assert.deepEqual([...s.entries].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i));
    assert.equal(s.maxRunning, 1);
    // Each caller got its own position back: all different, 1..40.
    assert.deepEqual(rows.map((r) => JSON.parse(r.output as string)).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('refuses hostile ids and unknown entities, and an EntityId names the lower-cased instance id', async () => {
    await assert.rejects(hub.client.entities.signal('no@pe', 'k', 'add', undefined), /INVALID|invalid/);
    await assert.rejects(hub.client.entities.signal('Counter', 'a/b', 'add', undefined), /must not contain/);
    await assert.rejects(hub.client.entities.signal('Nobody', 'k', 'add', undefined), /doesn't exist/);
    assert.equal(new EntityId('Counter', 'K').toString(), '@counter@K');
  });
});

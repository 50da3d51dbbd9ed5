/**
 * Contract of the inbox verbs (src/orchestrator/store/inbox.ts) on real PostgreSQL: delivery is
 * idempotent by message id, reaches only active instances (and only the named execution), sets
 * the wake-up to the earliest due message; receive returns due messages in arrival order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventMessageId, taskResultId, timerId } from '../../src/orchestrator/core/message-ids.ts';
import { clearOtherExecutions, consume, deliver, receive } from '../../src/orchestrator/store/inbox.ts';
import { getInstance, updateInstance } from '../../src/orchestrator/store/instances.ts';
import { seedInstance, useStoreDb } from '../helpers/store.ts';

const now = (): string => new Date().toISOString();

describe('store: inbox', () => {
  const db = useStoreDb();

  it('a second delivery of the same message id is a no-op', async () => {
    const i = await seedInstance(db());
    const message = { instanceId: i.instanceId, executionId: i.executionId, messageId: taskResultId(i.executionId, 0), event: { type: 'TaskCompleted' as const, taskId: 0, timestamp: now(), payload: '1' } };
    assert.equal(await deliver(db().pool, [message]), 1);
    assert.equal(await deliver(db().pool, [{ ...message, event: { ...message.event, payload: '2' } }]), 0);
    const got = await receive(db().pool, i.instanceId, 10);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.event.payload, '1');
  });

  it('messages for ended instances, unknown ids or another execution are dropped', async () => {
    const ended = await seedInstance(db());
    await updateInstance(db().pool, ended.instanceId, { status: 'Terminated', completed: true, wake: null });
    const live = await seedInstance(db());
    const event = { type: 'EventRaised' as const, name: 'E', timestamp: now() };
    const delivered = await deliver(db().pool, [
      { instanceId: ended.instanceId, executionId: undefined, messageId: eventMessageId('a'), event },
      { instanceId: 'no-such-instance', executionId: undefined, messageId: eventMessageId('b'), event },
      { instanceId: live.instanceId, executionId: '00000000-0000-0000-0000-000000000000', messageId: eventMessageId('c'), event },
    ]);
    assert.equal(delivered, 0);
    assert.deepEqual(await receive(db().pool, ended.instanceId, 10), []);
    assert.deepEqual(await receive(db().pool, live.instanceId, 10), []);
  });

  it('a timer is due at its time: not received before, and it sets the wake-up to it', async () => {
    const i = await seedInstance(db());
    await updateInstance(db().pool, i.instanceId, { status: 'Running', wake: null });
    const fireAt = new Date(Date.now() + 3_600_000).toISOString();
    await deliver(db().pool, [{ instanceId: i.instanceId, executionId: i.executionId, messageId: timerId(i.executionId, 0), deliverAt: fireAt, event: { type: 'TimerFired', taskId: 0, fireAt, timestamp: fireAt } }]);
    assert.deepEqual(await receive(db().pool, i.instanceId, 10), []);
    assert.equal((await db().pool.query(`SELECT wake_at FROM instances WHERE instance_id = $1`, [i.instanceId])).rows[0].wake_at.toISOString(), fireAt);
  });

  it('receive returns due messages in arrival order, up to the limit; consume removes exactly those', async () => {
    const i = await seedInstance(db());
    for (const name of ['a', 'b', 'c']) {
      await deliver(db().pool, [{ instanceId: i.instanceId, executionId: undefined, messageId: eventMessageId(name), event: { type: 'EventRaised', name, timestamp: now() } }]);
    }
    const first = await receive(db().pool, i.instanceId, 2);
    assert.deepEqual(first.map((m) => (m.event as { name: string }).name), ['a', 'b']);
    await consume(db().pool, i.instanceId, first.map((m) => m.messageId));
    assert.deepEqual((await receive(db().pool, i.instanceId, 10)).map((m) => (m.event as { name: string }).name), ['c']);
  });

  it('clearOtherExecutions drops results bound to other executions and keeps unbound events', async () => {
    const i = await seedInstance(db());
    await deliver(db().pool, [
      { instanceId: i.instanceId, executionId: i.executionId, messageId: taskResultId(i.executionId, 1), event: { type: 'TaskCompleted', taskId: 1, timestamp: now() } },
      { instanceId: i.instanceId, executionId: undefined, messageId: eventMessageId('keep'), event: { type: 'EventRaised', name: 'keep', timestamp: now() } },
    ]);
    await clearOtherExecutions(db().pool, i.instanceId, '00000000-0000-0000-0000-000000000001');
    assert.deepEqual((await receive(db().pool, i.instanceId, 10)).map((m) => m.event.type), ['EventRaised']);
    assert.ok(await getInstance(db().pool, i.instanceId));
  });
});

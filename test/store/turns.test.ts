/**
 * Contract of the turn verbs (src/orchestrator/store/turns.ts, history.ts) on real PostgreSQL:
 * claims lease due runnable instances once (SKIP LOCKED) and count attempts; an expired lease is
 * swept back; a turn commits in one statement; history's key fences a second writer of a turn.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { eventMessageId } from '../../src/orchestrator/core/message-ids.ts';
import { appendHistory, loadHistory, openJobIds } from '../../src/orchestrator/store/history.ts';
import { deliver, receive } from '../../src/orchestrator/store/inbox.ts';
import { createInstance, getInstance, updateInstance } from '../../src/orchestrator/store/instances.ts';
import { claimDue, commitEnd, commitTurn, releaseLease, sweepExpiredLeases } from '../../src/orchestrator/store/turns.ts';
import { newInstance, seedInstance, useStoreDb } from '../helpers/store.ts';

const now = (): string => new Date().toISOString();

describe('store: turns', () => {
  const db = useStoreDb();

  it('claimDue leases each due runnable instance to one owner, counts the attempt, and skips suspended ones', async () => {
    const a = await seedInstance(db());
    const suspended = await seedInstance(db());
    await updateInstance(db().pool, suspended.instanceId, { status: 'Suspended', wake: 'now' });
    const [one, two] = await Promise.all([claimDue(db().pool, 'w1', 30, 100), claimDue(db().pool, 'w2', 30, 100)]);
    const claimed = [...one!, ...two!].map((c) => c.instanceId);
    assert.equal(claimed.filter((id) => id === a.instanceId).length, 1, 'claimed exactly once');
    assert.ok(!claimed.includes(suspended.instanceId));
    assert.equal([...one!, ...two!].find((c) => c.instanceId === a.instanceId)?.attempts, 1);
    assert.deepEqual(await claimDue(db().pool, 'w3', 30, 100), [], 'a leased instance is not claimed again');
  });

  it('an expired lease is swept and claimable again, the attempt still counted; releaseLease defers it', async () => {
    const i = await seedInstance(db());
    await claimDue(db().pool, 'crashed', 0, 100);
    assert.ok((await sweepExpiredLeases(db().pool)) >= 1);
    const again = await claimDue(db().pool, 'w', 30, 100);
    assert.equal(again.find((c) => c.instanceId === i.instanceId)?.attempts, 2);
    await releaseLease(db().pool, i.instanceId, 'w', 3600);
    assert.deepEqual((await claimDue(db().pool, 'w', 30, 100)).filter((c) => c.instanceId === i.instanceId), []);
    assert.equal((await getInstance(db().pool, i.instanceId))?.leaseOwner, null);
  });

  it('commitTurn appends, consumes, sets Running and the custom status, clears the lease, and wakes for what is left', async () => {
    const i = await seedInstance(db());
    await claimDue(db().pool, 'w', 30, 100);
    await deliver(db().pool, [
      { instanceId: i.instanceId, executionId: undefined, messageId: eventMessageId('used'), event: { type: 'EventRaised', name: 'used', timestamp: now() } },
      { instanceId: i.instanceId, executionId: undefined, messageId: eventMessageId('left'), event: { type: 'EventRaised', name: 'left', timestamp: now() } },
    ]);
    const events = [
      { type: 'OrchestratorStarted' as const, timestamp: now() },
      { type: 'ExecutionStarted' as const, name: 'Contract', timestamp: now() },
    ];
    await commitTurn(db().pool, { instanceId: i.instanceId, executionId: i.executionId, consumed: [eventMessageId('used')], firstSeq: 0, events, customStatus: '"half"' });
    const got = await getInstance(db().pool, i.instanceId);
    assert.equal(got?.runtimeStatus, 'Running');
    assert.equal(got?.historyLength, 2);
    assert.equal(got?.customStatus, '"half"');
    assert.equal(got?.leaseOwner, null);
    assert.equal(got?.turnAttempts, 0);
    assert.deepEqual((await loadHistory(db().pool, i.instanceId, i.executionId)).map((e) => e.type), ['OrchestratorStarted', 'ExecutionStarted']);
    assert.deepEqual((await receive(db().pool, i.instanceId, 10)).map((m) => m.messageId), [eventMessageId('left')]);
    const { rows } = await db().pool.query(`SELECT wake_at IS NOT NULL AS due FROM instances WHERE instance_id = $1`, [i.instanceId]);
    assert.equal(rows[0].due, true, 'the remaining message keeps a wake-up');
  });

  it('a second writer of the same turn collides on the history key and writes nothing', async () => {
    const i = await seedInstance(db());
    const turn = [{ type: 'OrchestratorStarted' as const, timestamp: now() }];
    await appendHistory(db().pool, i.instanceId, i.executionId, 0, turn);
    await assert.rejects(appendHistory(db().pool, i.instanceId, i.executionId, 0, turn), (err: { code?: string }) => err.code === '23505');
    assert.equal((await loadHistory(db().pool, i.instanceId, i.executionId)).length, 1);
  });

  it('commitEnd closes the execution: terminal, completed, no wake-up, inbox cleared, custom status kept unless given', async () => {
    const i = await seedInstance(db());
    await updateInstance(db().pool, i.instanceId, { customStatus: '"kept"' });
    await deliver(db().pool, [{ instanceId: i.instanceId, executionId: undefined, messageId: eventMessageId('x'), event: { type: 'EventRaised', name: 'x', timestamp: now() } }]);
    await appendHistory(db().pool, i.instanceId, i.executionId, 0, [
      { type: 'TaskScheduled', taskId: 0, name: 'A', jobId: '11111111-1111-1111-1111-111111111111', timestamp: now() },
    ]);
    assert.deepEqual(await openJobIds(db().pool, i.instanceId, i.executionId), ['11111111-1111-1111-1111-111111111111']);
    await commitEnd(db().pool, {
      instanceId: i.instanceId,
      executionId: i.executionId,
      firstSeq: 1,
      events: [{ type: 'ExecutionTerminated', reason: 'r', timestamp: now() }],
      status: 'Terminated',
      output: '"r"',
      failure: null,
      customStatus: undefined,
    });
    const got = await getInstance(db().pool, i.instanceId);
    assert.equal(got?.runtimeStatus, 'Terminated');
    assert.ok(got?.completedAt instanceof Date);
    assert.equal(got?.customStatus, '"kept"');
    assert.equal(got?.historyLength, 2);
    assert.deepEqual(await receive(db().pool, i.instanceId, 10), []);
    const { rows } = await db().pool.query(`SELECT wake_at FROM instances WHERE instance_id = $1`, [i.instanceId]);
    assert.equal(rows[0].wake_at, null);
  });

  it('a start given a lease claims its first turn in its own statement; claimDue does not take it again', async () => {
    const instance = newInstance();
    const outcome = await createInstance(db().pool, instance, null, 'alone', { owner: 'starter', leaseSeconds: 30 });
    assert.deepEqual(outcome, { created: true, claimed: true });
    const row = await getInstance(db().pool, instance.instanceId);
    assert.equal(row?.leaseOwner, 'starter');
    assert.equal(row?.turnAttempts, 1, 'the claim counts the attempt, as CLAIM does');
    const others = await claimDue(db().pool, 'w', 30, 1000);
    assert.ok(!others.some((c) => c.instanceId === instance.instanceId), 'leased: not claimable by another dispatcher');
    // Replacing a terminal instance with the same id takes the lease too.
    await commitEnd(db().pool, { instanceId: instance.instanceId, executionId: instance.executionId, status: 'Completed', output: null, failure: null, events: [], firstSeq: 0, customStatus: undefined });
    const again = await createInstance(db().pool, { ...instance, executionId: randomUUID() }, null, 'alone', { owner: 'starter-2', leaseSeconds: 30 });
    assert.deepEqual(again, { created: true, claimed: true });
    assert.equal((await getInstance(db().pool, instance.instanceId))?.leaseOwner, 'starter-2');
    // Without a lease the start is due for any dispatcher, as before.
    const plain = await seedInstance(db());
    assert.ok((await claimDue(db().pool, 'w', 30, 1000)).some((c) => c.instanceId === plain.instanceId));
  });
});

/**
 * Contract of the instance verbs (src/orchestrator/store/instances.ts), on real PostgreSQL and
 * below the engine: what createInstance guarantees (the one start statement), the row lock, the
 * keyset listing and the purge. A change to their SQL that breaks a guarantee fails here first.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { withTransaction } from '../../src/db/pool.ts';
import { TERMINAL_STATUSES } from '../../src/orchestrator/core/statuses.ts';
import { appendHistory, loadHistory } from '../../src/orchestrator/store/history.ts';
import { deliver, receive } from '../../src/orchestrator/store/inbox.ts';
import {
  createInstance,
  findActiveBySingletonKey,
  getInstance,
  listInstances,
  lockInstance,
  purgeInstances,
  updateInstance,
} from '../../src/orchestrator/store/instances.ts';
import { wakeChannel } from '../../src/orchestrator/store/turns.ts';
import { newInstance, seedInstance, useStoreDb } from '../helpers/store.ts';

describe('store: instances', () => {
  const db = useStoreDb();
  const channel = (): string => wakeChannel(db().schema);

  it('createInstance writes a Pending row with a wake-up, mapped to the domain Instance', async () => {
    const seeded = await seedInstance(db(), { input: '{"a":1}', singletonKey: null });
    const got = await getInstance(db().pool, seeded.instanceId);
    assert.ok(got);
    assert.equal(got.instanceId, seeded.instanceId);
    assert.equal(got.executionId, seeded.executionId);
    assert.equal(got.runtimeStatus, 'Pending');
    assert.equal(got.input, '{"a":1}');
    assert.equal(got.historyLength, 0);
    assert.ok(got.createdAt instanceof Date);
    assert.ok(!('instance_id' in got), 'no row shape leaves the store');
  });

  it('an active id is refused (instance-active, with its status) and nothing is written', async () => {
    const seeded = await seedInstance(db());
    const again = await createInstance(db().pool, newInstance({ instanceId: seeded.instanceId, input: '"other"' }), channel(), 'alone');
    assert.deepEqual(again, { created: false, reason: 'instance-active', status: 'Pending' });
    assert.equal((await getInstance(db().pool, seeded.instanceId))?.executionId, seeded.executionId);
  });

  it('an active singleton key is refused by the index (singleton-active), alone or inside a transaction', async () => {
    const key = `key-${randomUUID()}`;
    const holder = await seedInstance(db(), { singletonKey: key });
    assert.deepEqual(await createInstance(db().pool, newInstance({ singletonKey: key }), channel(), 'alone'), { created: false, reason: 'singleton-active' });
    // Inside a transaction the refusal rolls back to its savepoint: the caller's work goes on.
    const after = await withTransaction(db().pool, async (client) => {
      const refused = await createInstance(client, newInstance({ singletonKey: key }), channel(), 'inTransaction');
      const other = await createInstance(client, newInstance(), channel(), 'inTransaction');
      return { refused, other };
    });
    assert.deepEqual(after.refused, { created: false, reason: 'singleton-active' });
    assert.deepEqual(after.other, { created: true });
    assert.equal((await findActiveBySingletonKey(db().pool, key))?.instanceId, holder.instanceId);
  });

  it('a terminal id is replaced: new execution, Pending, old history and inbox dropped', async () => {
    const old = await seedInstance(db());
    await appendHistory(db().pool, old.instanceId, old.executionId, 0, [{ type: 'OrchestratorStarted', timestamp: new Date().toISOString() }]);
    await deliver(db().pool, [{ instanceId: old.instanceId, executionId: undefined, messageId: 'event:x', event: { type: 'EventRaised', name: 'E', timestamp: new Date().toISOString() } }]);
    await updateInstance(db().pool, old.instanceId, { status: 'Completed', completed: true, historyLength: 1, wake: null });
    const next = newInstance({ instanceId: old.instanceId });
    assert.deepEqual(await createInstance(db().pool, next, channel(), 'alone'), { created: true });
    const got = await getInstance(db().pool, old.instanceId);
    assert.equal(got?.executionId, next.executionId);
    assert.equal(got?.runtimeStatus, 'Pending');
    assert.equal(got?.historyLength, 0);
    assert.equal(got?.completedAt, null);
    assert.deepEqual(await loadHistory(db().pool, old.instanceId, old.executionId), []);
    assert.deepEqual(await receive(db().pool, old.instanceId, 10), []);
  });

  it('a start announces the wake-up on the schema channel, only when it wrote and only on commit', async () => {
    const listener = new pg.Client({ connectionString: db().db.url });
    await listener.connect();
    try {
      const heard: string[] = [];
      listener.on('notification', (n) => heard.push(n.channel));
      await listener.query(`LISTEN ${channel()}`);
      const key = `key-${randomUUID()}`;
      await seedInstance(db(), { singletonKey: key });
      await createInstance(db().pool, newInstance({ singletonKey: key }), channel(), 'alone'); // refused: no NOTIFY
      await withTransaction(db().pool, async (client) => {
        await createInstance(client, newInstance(), channel(), 'inTransaction');
        throw new Error('rolled back');
      }).catch(() => undefined);
      // A round trip on the listener delivers what was sent before it.
      await listener.query('SELECT 1');
      assert.deepEqual(heard, [channel()]);
    } finally {
      await listener.end();
    }
  });

  it('lockInstance holds the row: a second locker waits until the first commits', async () => {
    const seeded = await seedInstance(db());
    const order: string[] = [];
    // The second transaction is returned inside an object, so the first commits without awaiting it.
    const { second } = await withTransaction(db().pool, async (client) => {
      await lockInstance(client, seeded.instanceId);
      const second = withTransaction(db().pool, async (c2) => {
        await lockInstance(c2, seeded.instanceId);
        order.push('second');
      });
      // The second locker is blocked on our lock (seen in pg_locks), not merely slow.
      for (let i = 0; i < 2000; i++) {
        const { rows } = await db().pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = current_database()`);
        if (rows[0]!.n > 0) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      order.push('first');
      return { second };
    });
    await second;
    assert.deepEqual(order, ['first', 'second']);
  });

  it('listInstances pages by (created_at, instance_id) without gaps or repeats, with filters', async () => {
    const prefix = `page-${randomUUID().slice(0, 8)}-`;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await seedInstance(db(), { instanceId: `${prefix}${i}` })).instanceId);
    await updateInstance(db().pool, ids[3]!, { status: 'Failed', completed: true });
    const seen: string[] = [];
    let after: Parameters<typeof listInstances>[3];
    for (let page = 0; page < 10; page++) {
      const { rows, next } = await listInstances(db().pool, { instanceIdPrefix: prefix }, 3, after);
      seen.push(...rows.map((r) => r.instanceId));
      if (next === undefined) break;
      after = next;
    }
    assert.deepEqual(seen, ids);
    const failed = await listInstances(db().pool, { instanceIdPrefix: prefix, statuses: ['Failed'] }, 10, undefined);
    assert.deepEqual(failed.rows.map((r) => r.instanceId), [ids[3]]);
    // LIKE wildcards in a prefix are literal.
    assert.deepEqual((await listInstances(db().pool, { instanceIdPrefix: `${prefix.slice(0, -2)}%` }, 10, undefined)).rows, []);
  });

  it('purgeInstances deletes only terminal instances that match, with their history', async () => {
    const prefix = `purge-${randomUUID().slice(0, 8)}-`;
    const done = await seedInstance(db(), { instanceId: `${prefix}done` });
    const running = await seedInstance(db(), { instanceId: `${prefix}running` });
    await appendHistory(db().pool, done.instanceId, done.executionId, 0, [{ type: 'OrchestratorStarted', timestamp: new Date().toISOString() }]);
    await updateInstance(db().pool, done.instanceId, { status: 'Completed', completed: true, historyLength: 1 });
    assert.equal(await purgeInstances(db().pool, { instanceIdPrefix: prefix, statuses: ['Running', 'Completed'] }, TERMINAL_STATUSES), 1);
    assert.equal(await getInstance(db().pool, done.instanceId), undefined);
    assert.deepEqual(await loadHistory(db().pool, done.instanceId, done.executionId), []);
    assert.ok(await getInstance(db().pool, running.instanceId));
  });
});

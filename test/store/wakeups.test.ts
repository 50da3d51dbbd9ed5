/**
 * The wake-up paths of issue 17 on real PostgreSQL: the post-commit Notifier (src/db/notifier.ts)
 * delivers every requested channel and coalesces requests made while a NOTIFY is in flight into one
 * statement; claimThese (store/turns.ts) claims exactly the named instances that are due, unleased
 * and runnable, counting the attempt like claimDue.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { Notifier } from '../../src/db/notifier.ts';
import { createLogger } from '../../src/log.ts';
import { getInstance, updateInstance } from '../../src/orchestrator/store/instances.ts';
import { claimThese } from '../../src/orchestrator/store/turns.ts';
import { seedInstance, useStoreDb } from '../helpers/store.ts';

describe('store: wake-ups after commit', () => {
  const db = useStoreDb();

  it('the Notifier delivers each requested channel, and coalesces requests made while one is in flight', async () => {
    const listener = new pg.Client({ connectionString: db().db.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(`${m.channel}:${m.payload ?? ''}`));
    await listener.query('LISTEN w6_a');
    await listener.query('LISTEN w6_b');
    let statements = 0;
    const pool = db().pool;
    const counting = { query: (...args: Parameters<typeof pool.query>) => (statements++, pool.query(...args)) } as unknown as typeof pool;
    const notifier = new Notifier(counting, createLogger('silent'));
    try {
      for (let i = 0; i < 50; i++) notifier.notify('w6_a');
      notifier.notify('w6_b', 'jobs');
      await notifier.close();
      const deadline = Date.now() + 5000;
      while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual([...new Set(heard)].sort(), ['w6_a:', 'w6_b:jobs']);
      // The first request sends at once; the 50 made meanwhile go out together in one more statement.
      assert.ok(statements <= 2, `51 requests took ${statements} statements`);
      notifier.notify('w6_a'); // after close: ignored, no statement
      assert.ok(statements <= 2);
    } finally {
      await listener.end();
    }
  });

  it('claimThese claims only the named instances that are due, unleased and runnable, and counts the attempt', async () => {
    const due = await seedInstance(db());
    const leased = await seedInstance(db());
    const notDue = await seedInstance(db());
    const ended = await seedInstance(db());
    const other = await seedInstance(db());
    await db().pool.query(`UPDATE instances SET lease_owner = 'someone', lease_until = now() + interval '1 minute' WHERE instance_id = $1`, [leased.instanceId]);
    await updateInstance(db().pool, notDue.instanceId, { wake: null });
    await updateInstance(db().pool, ended.instanceId, { status: 'Completed', completed: true, wake: null });
    const ids = [due.instanceId, leased.instanceId, notDue.instanceId, ended.instanceId, 'no-such-instance'];
    const claims = await claimThese(db().pool, 'me', 30, 10, ids);
    assert.deepEqual(claims.map((c) => c.instanceId), [due.instanceId]);
    assert.equal(claims[0]!.attempts, 1);
    const row = await getInstance(db().pool, due.instanceId);
    assert.equal(row?.leaseOwner, 'me');
    assert.equal((await getInstance(db().pool, other.instanceId))?.leaseOwner ?? null, null, 'an instance not named is left alone');
    assert.deepEqual(await claimThese(db().pool, 'me', 30, 10, ids), [], 'a second claim finds it leased');
    assert.deepEqual(await claimThese(db().pool, 'me', 30, 0, [other.instanceId]), [], 'no slots, no claim');
  });
});

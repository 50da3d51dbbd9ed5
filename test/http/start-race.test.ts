/**
 * The unique index alone decides a start. An HTTP start first reads the singleton key's current
 * holder (a fast path that answers a visibly contended start without a failing INSERT); here a
 * holder commits only after that read saw nothing, so the start reaches its INSERT, which waits on
 * the index for the holder's transaction and then fails: the client still gets the 409, naming
 * the holder, and no second active instance exists.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { BASE, body, buildHttpApp } from './support.ts';

describe('a start racing past the fast path', () => {
  let hub: TestHub;
  let app: App;
  let holder: pg.Client;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    holder = new pg.Client({ connectionString: hub.db.url });
    await holder.connect();
  });
  after(async () => {
    await holder?.end();
    await app?.close();
    await hub?.close();
  });

  /** Resolves once some backend's start INSERT waits on a lock (the unique index's, behind the holder). */
  async function startWaitingOnIndex(): Promise<void> {
    for (let i = 0; i < 2000; i++) {
      const { rows } = await hub.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH created AS%'`,
      );
      if (rows[0]!.n > 0) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error('the start never reached its INSERT');
  }

  it('gets 409 SINGLETON_ACTIVE from the index when the holder commits after the read', async () => {
    const tenant = `race-${randomUUID()}`;
    const key = hub.registry.singletonKey('PerTenant', { tenant });
    assert.ok(key !== null);
    const holderId = `holder-${randomUUID()}`;
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO taskhub.instances (instance_id, name, execution_id, runtime_status, singleton_key) VALUES ($1, 'PerTenant', $2, 'Running', $3)`,
      [holderId, randomUUID(), key],
    );
    // The holder is not committed: the start's read sees no holder and it goes on to the INSERT.
    const reply = app.inject({ method: 'POST', url: `${BASE}/orchestrators/PerTenant`, payload: { tenant } });
    await startWaitingOnIndex();
    await holder.query('COMMIT');
    const res = await reply;
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(body(res).code, 'SINGLETON_ACTIVE');
    assert.equal(body(res).instanceId, holderId);
    const { rows } = await hub.pool.query(`SELECT instance_id FROM instances WHERE singleton_key = $1`, [key]);
    assert.deepEqual(rows.map((r) => r.instance_id), [holderId]);
  });

  it('gets 202 when the racing holder rolls back instead', async () => {
    const tenant = `race-${randomUUID()}`;
    const key = hub.registry.singletonKey('PerTenant', { tenant });
    await holder.query('BEGIN');
    await holder.query(
      `INSERT INTO taskhub.instances (instance_id, name, execution_id, runtime_status, singleton_key) VALUES ($1, 'PerTenant', $2, 'Running', $3)`,
      [`holder-${randomUUID()}`, randomUUID(), key],
    );
    const reply = app.inject({ method: 'POST', url: `${BASE}/orchestrators/PerTenant`, payload: { tenant } });
    await startWaitingOnIndex();
    await holder.query('ROLLBACK');
    const res = await reply;
    assert.equal(res.statusCode, 202, res.body);
    await hub.client.terminate(body(res).id, 'test over');
  });
});

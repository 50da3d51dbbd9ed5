/**
 * Run deadlines (issue 12, test 0): a single-instance orchestration past its deadlineSeconds is
 * terminated with a reason naming the deadline, its running activity is cancelled (its signal
 * aborts), and the next start is accepted. A schedule tick that finds its slot held by a run past
 * its deadline terminates that run, starts the new one and says so.
 */
import { PgBossActivityQueue } from '../../src/activities/queue.ts';
import { Starts } from '../../src/orchestrator/starts.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { Scheduler } from '../../src/orchestrator/scheduler.ts';
import { upsertSchedule } from '../../src/orchestrator/store/schedules.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

const aborted = new Map<string, string>();

function registry(): Registry {
  return new Registry()
    .activity('WaitsForCancel', (_: unknown, context) => {
      return new Promise((resolve) => {
        context.signal.addEventListener('abort', () => {
          aborted.set(context.instanceId, String((context.signal.reason as Error)?.message));
          resolve('cancelled');
        });
      });
    })
    .orchestration('StuckDaily', { singleton: true, deadlineSeconds: 2 }, function* (context) {
      return yield context.df.callActivity('WaitsForCancel');
    })
    .orchestration('StuckScheduled', { singleton: true, deadlineSeconds: 60, schedule: { cron: '0 0 1 1 *' } }, function* (context) {
      return yield context.df.callActivity('WaitsForCancel');
    });
}

async function until(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('run deadlines', () => {
  let db: TestDatabase;
  let hub: TestHub;
  before(async () => {
    db = await createTestDatabase();
    hub = await startTestHub({ db, registry: registry(), env: { TASKHUB_SCHEDULES: 'false' } });
  });
  after(async () => {
    await hub?.close();
    await db?.drop();
  });

  it('terminates a singleton past its deadline, cancels its activity, and accepts the next start', async () => {
    const first = await hub.client.start({ name: 'StuckDaily', input: undefined });
    assert.equal(first.kind, 'created');
    const id = first.kind === 'created' ? first.instanceId : '';
    await assert.rejects(hub.client.start({ name: 'StuckDaily', input: undefined }), /already has an active instance/, 'the slot is held while the run is active');

    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Terminated');
    assert.match(JSON.parse(row.output as string), /^run deadline exceeded: 'StuckDaily' has deadlineSeconds 2, and this instance was still Running \d+ s after it started/);
    const status = await hub.client.status(id, { history: true });
    assert.ok(status?.history?.some((e) => e.type === 'ExecutionTerminated' && /run deadline exceeded/.test(e.reason ?? '')));
    // Its running activity was cancelled as terminate does: the job is cancelled and its signal aborts.
    const { rows } = await hub.pool.query<{ state: string }>(`SELECT state FROM taskhub_boss.job WHERE data->>'instanceId' = $1`, [id]);
    assert.deepEqual(rows.map((r) => r.state), ['cancelled']);
    await until('the activity to see its signal abort', () => aborted.has(id));

    const next = await hub.client.start({ name: 'StuckDaily', input: undefined });
    assert.equal(next.kind, 'created', 'the next start is accepted');
    assert.ok(hub.deadlines !== undefined && hub.deadlines.terminated >= 1);
  });

  it('a schedule tick that finds its slot held past the deadline terminates the holder, starts, and says so', async () => {
    // An api-only hub on a database of its own: no sweeper, no dispatcher, so the holder stays active until the tick.
    const api = await startTestHub({ registry: registry(), env: { TASKHUB_ROLE: 'api' } });
    try {
      const holder = await api.client.start({ name: 'StuckScheduled', input: undefined });
      const holderId = holder.kind === 'created' ? holder.instanceId : '';
      await api.pool.query(`UPDATE instances SET created_at = now() - interval '2 hours' WHERE instance_id = $1`, [holderId]);
      await upsertSchedule(api.pools.engine, { name: 'StuckScheduled', cron: '0 0 1 1 *', timezone: 'UTC', input: undefined, nextRunAt: new Date(Date.now() - 1000) });
      const ctx = { pool: api.pools.engine, activities: new PgBossActivityQueue(api.boss, 'taskhub_boss'), schema: 'taskhub' };
      const scheduler = new Scheduler(api.pools.engine, api.registry, new Starts(ctx, api.registry), createLogger('silent'), ctx);
      assert.equal(await scheduler.fireDue(), 1);

      const old = await api.client.get(holderId);
      assert.equal(old?.runtimeStatus, 'Terminated');
      assert.match(JSON.parse(old?.output as string), /run deadline exceeded: 'StuckScheduled' has deadlineSeconds 60/);
      const [schedule] = (await api.client.schedules()).filter((s) => s.name === 'StuckScheduled');
      assert.equal(schedule?.lastOutcome, 'started');
      assert.equal(schedule?.lastDetail, `the slot was held by ${holderId} (Pending) past its run deadline; it was terminated`);
      const started = await api.client.get(schedule?.lastInstanceId as string);
      assert.equal(started?.runtimeStatus, 'Pending');
    } finally {
      await api.close();
    }
  });
});

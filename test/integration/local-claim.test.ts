/**
 * Activities enqueued claimed for the turn's own process (TASKHUB_ACTIVITY_LOCAL_CLAIM, the
 * ActivityHandoff port): they are pg-boss jobs claimed in the turn's own transaction, run by this
 * process without a fetch, and a job claimed so whose process never ran it (a crash right after the
 * commit) is delivered again once its heartbeat lapses.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PgBossActivityQueue } from '../../src/activities/queue.ts';
import { withTransaction } from '../../src/db/pool.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startAndWait, startTestHub, type TestHub } from '../helpers/hub.ts';

const ran: string[] = [];

function registry(): Registry {
  return new Registry()
    .activity('Echo', (input: unknown, context) => {
      ran.push(context.instanceId);
      return input;
    })
    .orchestration('ThreeEchoes', function* (context) {
      const out: unknown[] = [];
      for (const word of ['a', 'b', 'c']) out.push(yield context.df.callActivity('Echo', word));
      return out;
    })
    .orchestration('WideEchoes', function* (context) {
      const n = context.df.getInput<number>();
      return yield context.df.Task.all(Array.from({ length: n }, (_, i) => context.df.callActivity('Echo', i)));
    });
}

interface JobRow {
  claimedInTurn: boolean;
  retry_count: number;
}

/** The pg-boss rows of an instance's activity jobs: claimed in the inserting transaction or fetched later. */
async function jobsOf(hub: TestHub, instanceId: string): Promise<JobRow[]> {
  const { rows } = await hub.pool.query<JobRow>(
    `SELECT started_on = created_on AS "claimedInTurn", retry_count FROM taskhub_boss.job WHERE name = 'taskhub.activities' AND data->>'instanceId' = $1`,
    [instanceId],
  );
  return rows;
}

describe('activities claimed in the turn that schedules them', () => {
  let local: TestHub;
  let queued: TestHub;
  before(async () => {
    local = await startTestHub({ registry: registry(), env: { TASKHUB_SCHEDULES: 'false', TASKHUB_ACTIVITY_LOCAL_CLAIM: '5' } });
    queued = await startTestHub({ registry: registry(), env: { TASKHUB_SCHEDULES: 'false', TASKHUB_ACTIVITY_LOCAL_CLAIM: '0' } });
  });
  after(async () => {
    await local?.close();
    await queued?.close();
  });

  it('runs a sequence with every job claimed in its turn (job started in the transaction that created it)', async () => {
    const row = await startAndWait(local, 'ThreeEchoes');
    assert.equal(row.runtimeStatus, 'Completed');
    assert.deepEqual(JSON.parse(row.output as string), ['a', 'b', 'c']);
    const jobs = await jobsOf(local, row.instanceId);
    assert.equal(jobs.length, 3);
    assert.ok(jobs.every((j) => j.claimedInTurn && j.retry_count === 0), JSON.stringify(jobs));
  });

  it('claims at most TASKHUB_ACTIVITY_LOCAL_CLAIM jobs of a fan-out; the rest are fetched', async () => {
    const row = await startAndWait(local, 'WideEchoes', 20);
    assert.equal(row.runtimeStatus, 'Completed');
    assert.deepEqual(JSON.parse(row.output as string), Array.from({ length: 20 }, (_, i) => i));
    const jobs = await jobsOf(local, row.instanceId);
    assert.equal(jobs.length, 20);
    assert.equal(jobs.filter((j) => j.claimedInTurn).length, 5);
  });

  it('with 0, every job goes through the queue', async () => {
    const row = await startAndWait(queued, 'ThreeEchoes');
    assert.equal(row.runtimeStatus, 'Completed');
    const jobs = await jobsOf(queued, row.instanceId);
    assert.equal(jobs.length, 3);
    assert.ok(jobs.every((j) => !j.claimedInTurn), JSON.stringify(jobs));
  });

  it('a job claimed in a committed turn that its process never ran is delivered again after its heartbeat lapses', async () => {
    // As a process that crashed right after its turn committed: the job is claimed (active) and nobody holds it.
    const instanceId = `lost-${randomUUID()}`;
    const queue = new PgBossActivityQueue(local.boss, 'taskhub_boss');
    const job = { id: randomUUID(), data: { instanceId, executionId: randomUUID(), taskId: 0, name: 'Echo', input: '"x"' } };
    const claimed = await withTransaction(local.pools.engine, (client) => queue.enqueue(client, [job], 1));
    assert.deepEqual(claimed.map((j) => j.id), [job.id]);
    const state = await local.pool.query<{ state: string }>(`SELECT state FROM taskhub_boss.job WHERE id = $1`, [job.id]);
    assert.equal(state.rows[0]?.state, 'active');
    // pg-boss's supervisor fails the lapsed claim (heartbeat 10 s, checked every 5 s) and a worker fetches it.
    const deadline = Date.now() + 45_000;
    while (!ran.includes(instanceId)) {
      if (Date.now() > deadline) throw new Error('the lost job was not delivered again');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const again = await local.pool.query<{ retry_count: number }>(`SELECT retry_count FROM taskhub_boss.job WHERE id = $1`, [job.id]);
    assert.ok((again.rows[0]?.retry_count ?? 0) >= 1, 'delivered as a second attempt');
  });
});

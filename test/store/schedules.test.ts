/**
 * Contract of the schedule verbs (src/orchestrator/store/schedules.ts) on real PostgreSQL: a due
 * schedule is claimed by one transaction at a time (SKIP LOCKED), a tick advances it and counts
 * its outcome, and re-registering an unchanged schedule keeps its next tick.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withTransaction } from '../../src/db/pool.ts';
import { claimDueSchedules, listSchedules, recordTick, upsertSchedule } from '../../src/orchestrator/store/schedules.ts';
import { useStoreDb } from '../helpers/store.ts';

describe('store: schedules', () => {
  const db = useStoreDb();

  it('a due schedule is claimed once while its claimer holds it; a tick advances and counts it', async () => {
    const past = new Date(Date.now() - 1000);
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 2 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: past });
    const next = new Date(Date.now() + 86_400_000);
    await withTransaction(db().pool, async (client) => {
      const mine = await claimDueSchedules(client, ['Nightly']);
      assert.deepEqual(mine.map((s) => s.name), ['Nightly']);
      assert.deepEqual(await claimDueSchedules(db().pool, ['Nightly']), [], 'locked by the first claimer: skipped');
      await recordTick(client, { name: 'Nightly', tickAt: mine[0]!.nextRunAt, outcome: 'skipped', instanceId: 'holder', detail: 'still running', nextRunAt: next });
    });
    const [s] = await listSchedules(db().pool);
    assert.equal(s?.nextRunAt.toISOString(), next.toISOString());
    assert.equal(s?.lastOutcome, 'skipped');
    assert.equal(s?.lastInstanceId, 'holder');
    assert.deepEqual([s?.startedCount, s?.skippedCount, s?.failedCount], [0, 1, 0]);
    assert.equal(s?.input, '{"n":1}');
  });

  it('a due row of an orchestration the caller does not schedule is never claimed', async () => {
    await upsertSchedule(db().pool, { name: 'Retired', cron: '* * * * *', timezone: 'UTC', input: undefined, nextRunAt: new Date(Date.now() - 60_000) });
    assert.deepEqual(await claimDueSchedules(db().pool, ['Nightly']), [], 'Nightly is not due; Retired is not ours');
    assert.deepEqual((await claimDueSchedules(db().pool, ['Retired'])).map((s) => s.name), ['Retired'], 'a worker that schedules it finds it');
  });

  it('registering the same schedule again keeps its next tick; a changed cron resets it', async () => {
    const [before] = await listSchedules(db().pool);
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 2 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: new Date(0) });
    assert.equal((await listSchedules(db().pool))[0]?.nextRunAt.toISOString(), before?.nextRunAt.toISOString());
    const reset = new Date(Date.now() + 3_600_000);
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 3 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: reset });
    assert.equal((await listSchedules(db().pool))[0]?.nextRunAt.toISOString(), reset.toISOString());
  });
});

/**
 * Contract of the schedule verbs (src/orchestrator/store/schedules.ts) on real PostgreSQL: a due
 * schedule (or one with buffered ticks waiting) is claimed by one transaction at a time (SKIP
 * LOCKED), a tick is recorded once (a second row for the same tick is refused by the primary
 * key) and advances and counts its schedule, a buffered tick leaves its buffer once, the prune
 * keeps waiting ticks, and re-registering an unchanged schedule keeps its next tick.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withTransaction } from '../../src/db/pool.ts';
import {
  claimSchedules,
  listSchedules,
  listTicks,
  markBufferedStarted,
  oldestWaitingTick,
  pruneTicks,
  recordTick,
  upsertSchedule,
} from '../../src/orchestrator/store/schedules.ts';
import { useStoreDb } from '../helpers/store.ts';

describe('store: schedules', () => {
  const db = useStoreDb();

  it('a due schedule is claimed once while its claimer holds it; a tick advances and counts it', async () => {
    const past = new Date(Date.now() - 1000);
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 2 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: past });
    const next = new Date(Date.now() + 86_400_000);
    await withTransaction(db().pool, async (client) => {
      const mine = await claimSchedules(client, ['Nightly']);
      assert.deepEqual(mine.map((c) => c.schedule.name), ['Nightly']);
      assert.ok(Math.abs(mine[0]!.now.getTime() - Date.now()) < 5000, 'the claim carries the database clock');
      assert.deepEqual(await claimSchedules(db().pool, ['Nightly']), [], 'locked by the first claimer: skipped');
      await recordTick(client, { name: 'Nightly', tickAt: mine[0]!.schedule.nextRunAt, outcome: 'skipped', instanceId: 'holder', detail: 'still running', nextRunAt: next });
    });
    const [s] = await listSchedules(db().pool);
    assert.equal(s?.nextRunAt.toISOString(), next.toISOString());
    assert.equal(s?.lastOutcome, 'skipped');
    assert.equal(s?.lastInstanceId, 'holder');
    assert.equal(s?.lastDetail, 'still running');
    assert.deepEqual([s?.startedCount, s?.bufferedCount, s?.skippedCount, s?.replacedCount, s?.failedCount], [0, 0, 1, 0, 0]);
    assert.equal(s?.input, '{"n":1}');
    assert.equal(s?.overlap, 'skip', 'the default policy');
    assert.equal(s?.catchupWindowSeconds, 31_536_000, "the default window: Temporal's year");
  });

  it('a tick is recorded once: a second row for the same schedule and time is refused by the primary key', async () => {
    const tickAt = new Date('2026-01-01T02:00:00Z');
    const next = new Date(Date.now() + 86_400_000);
    await recordTick(db().pool, { name: 'Nightly', tickAt, outcome: 'started', instanceId: 'a', detail: null, nextRunAt: next });
    await assert.rejects(
      recordTick(db().pool, { name: 'Nightly', tickAt, outcome: 'skipped', instanceId: null, detail: null, nextRunAt: next }),
      (err: { code?: string }) => err.code === '23505',
    );
    const [s] = await listSchedules(db().pool);
    assert.deepEqual([s?.startedCount, s?.skippedCount], [1, 1], 'the refused tick counted nothing');
    await assert.rejects(
      db().pool.query(`INSERT INTO schedule_ticks (name, tick_at, outcome) VALUES ('Nightly', now(), 'ran')`),
      (err: { code?: string }) => err.code === '23514',
      'an unknown outcome is refused by the check',
    );
  });

  it('a buffered tick makes its schedule claimable though not due, and leaves the buffer once', async () => {
    const next = new Date(Date.now() + 3_600_000);
    await upsertSchedule(db().pool, { name: 'Buffered', cron: '0 * * * *', timezone: 'UTC', input: undefined, nextRunAt: next, overlap: 'bufferAll', catchupWindowSeconds: 60 });
    assert.deepEqual(await claimSchedules(db().pool, ['Buffered']), [], 'not due, nothing waits');
    const t1 = new Date('2026-01-01T01:00:00Z');
    const t2 = new Date('2026-01-01T02:00:00Z');
    for (const tickAt of [t2, t1]) await recordTick(db().pool, { name: 'Buffered', tickAt, outcome: 'buffered', instanceId: null, detail: 'waits', nextRunAt: next });
    const [claimed] = await claimSchedules(db().pool, ['Buffered']);
    assert.equal(claimed?.schedule.waiting, 2);
    assert.equal(claimed?.schedule.overlap, 'bufferAll');
    assert.equal(claimed?.schedule.catchupWindowSeconds, 60);
    assert.equal((await oldestWaitingTick(db().pool, 'Buffered'))?.toISOString(), t1.toISOString(), 'the head is the oldest');
    assert.equal(await markBufferedStarted(db().pool, 'Buffered', t1, 'run-1', null), true);
    assert.equal(await markBufferedStarted(db().pool, 'Buffered', t1, 'run-again', null), false, 'a tick leaves the buffer once');
    assert.equal(await markBufferedStarted(db().pool, 'Nightly', new Date('2026-01-01T02:00:00Z'), 'x', null), false, 'a tick that was not buffered never "starts later"');
    assert.equal((await oldestWaitingTick(db().pool, 'Buffered'))?.toISOString(), t2.toISOString());
    const [first] = (await listTicks(db().pool, 'Buffered', 10)).filter((t) => t.tickAt.getTime() === t1.getTime());
    assert.equal(first?.instanceId, 'run-1');
    assert.ok(first?.startedAt instanceof Date);
    await assert.rejects(
      db().pool.query(`UPDATE schedule_ticks SET started_at = now() WHERE name = 'Nightly'`),
      (err: { code?: string }) => err.code === '23514',
      'only a buffered tick has a later start',
    );
  });

  it('the prune keeps the newest ticks and every buffered tick still waiting', async () => {
    const next = new Date(Date.now() + 3_600_000);
    for (let i = 0; i < 5; i++) {
      await recordTick(db().pool, { name: 'Buffered', tickAt: new Date(Date.UTC(2026, 0, 2, i)), outcome: 'started', instanceId: `r${i}`, detail: null, nextRunAt: next });
    }
    await pruneTicks(db().pool, 2);
    const left = await listTicks(db().pool, 'Buffered', 100);
    assert.deepEqual(
      left.map((t) => [t.tickAt.toISOString(), t.outcome]),
      [
        ['2026-01-02T04:00:00.000Z', 'started'],
        ['2026-01-02T03:00:00.000Z', 'started'],
        ['2026-01-01T02:00:00.000Z', 'buffered'],
      ],
    );
  });

  it('listSchedules shows the waiting buffer and the newest ticks, newest first', async () => {
    const buffered = (await listSchedules(db().pool, 2)).find((s) => s.name === 'Buffered');
    assert.equal(buffered?.waiting, 1);
    assert.deepEqual(buffered?.recentTicks.map((t) => t.instanceId), ['r4', 'r3']);
    assert.deepEqual((await listSchedules(db().pool)).find((s) => s.name === 'Buffered')?.recentTicks, [], 'not read unless asked');
  });

  it('a due row of an orchestration the caller does not schedule is never claimed', async () => {
    await upsertSchedule(db().pool, { name: 'Retired', cron: '* * * * *', timezone: 'UTC', input: undefined, nextRunAt: new Date(Date.now() - 60_000) });
    assert.deepEqual((await claimSchedules(db().pool, ['Nightly'])).length, 0, 'Nightly is not due; Retired is not ours');
    assert.deepEqual((await claimSchedules(db().pool, ['Retired'])).map((c) => c.schedule.name), ['Retired'], 'a worker that schedules it finds it');
  });

  it('registering the same schedule again keeps its next tick; a changed cron resets it, a changed policy does not', async () => {
    const nightly = async () => (await listSchedules(db().pool)).find((s) => s.name === 'Nightly');
    const before = await nightly();
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 2 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: new Date(0) });
    assert.equal((await nightly())?.nextRunAt.toISOString(), before?.nextRunAt.toISOString());
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 2 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: new Date(0), overlap: 'bufferOne', catchupWindowSeconds: 3600 });
    const changed = await nightly();
    assert.deepEqual([changed?.overlap, changed?.catchupWindowSeconds], ['bufferOne', 3600]);
    assert.equal(changed?.nextRunAt.toISOString(), before?.nextRunAt.toISOString(), 'a policy change keeps the next tick');
    const reset = new Date(Date.now() + 3_600_000);
    await upsertSchedule(db().pool, { name: 'Nightly', cron: '0 3 * * *', timezone: 'UTC', input: '{"n":1}', nextRunAt: reset });
    assert.equal((await nightly())?.nextRunAt.toISOString(), reset.toISOString());
  });
});

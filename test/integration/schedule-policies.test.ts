/**
 * Each overlap policy's decision, one tick at a time, on real PostgreSQL: an api-only hub (no
 * dispatcher, no scheduler loop, so instances stay active until terminated) and Scheduler.fireDue
 * called by hand on due rows. A single-instance orchestration's slot is shared with manual starts
 * (a manual run makes a tick buffer, skip or be replaced); a plain orchestration's schedule holds
 * a slot of its own that manual starts do not touch. Two schedulers releasing one buffer at once
 * start its oldest tick once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PgBossActivityQueue } from '../../src/activities/queue.ts';
import { createLogger } from '../../src/log.ts';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import type { OverlapPolicy } from '../../src/orchestrator/core/schedule.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { Scheduler, scheduleSlotKey } from '../../src/orchestrator/scheduler.ts';
import { Starts } from '../../src/orchestrator/starts.ts';
import { upsertSchedule } from '../../src/orchestrator/store/schedules.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const YEARLY = '0 0 1 1 *';

function registry(): Registry {
  const wait: Orchestrator = function* (context) {
    const event: unknown = yield context.df.waitForExternalEvent('never');
    return event;
  };
  return new Registry().orchestration('Nightly', { singleton: true, schedule: { cron: YEARLY } }, wait).orchestration('Plain', { schedule: { cron: YEARLY } }, wait);
}

describe('schedule overlap policies, tick by tick', () => {
  let hub: TestHub;
  let scheduler: Scheduler;
  let second: Scheduler;
  /** Distinct tick times, one second apart, in the past. */
  let tickClock = Date.now() - 3_600_000;

  before(async () => {
    hub = await startTestHub({ registry: registry(), env: { TASKHUB_ROLE: 'api' } });
    const ctx = { pool: hub.pools.engine, activities: new PgBossActivityQueue(hub.boss, 'taskhub_boss'), schema: 'taskhub' };
    scheduler = new Scheduler(hub.pools.engine, hub.registry, new Starts(ctx, hub.registry), createLogger('silent'), ctx);
    second = new Scheduler(hub.pools.engine, hub.registry, new Starts(ctx, hub.registry), createLogger('silent'), ctx);
  });
  after(async () => {
    await hub?.close();
  });

  /** Makes the schedule due now, once, at a fresh tick time, under `overlap`; returns the tick time. */
  async function due(name: string, overlap: OverlapPolicy): Promise<Date> {
    const tickAt = new Date((tickClock += 1000));
    await upsertSchedule(hub.pools.engine, { name, cron: YEARLY, timezone: 'UTC', input: undefined, nextRunAt: tickAt, overlap });
    await hub.pool.query(`UPDATE schedules SET next_run_at = $2 WHERE name = $1`, [name, tickAt]);
    return tickAt;
  }

  async function tick(name: string, tickAt: Date) {
    const ticks = await hub.client.scheduleTicks(name, 1000);
    const found = ticks?.find((t) => t.tickAt.getTime() === tickAt.getTime());
    assert.ok(found, `the tick ${tickAt.toISOString()} of ${name} was recorded`);
    return found;
  }

  async function manualStart(name: string): Promise<string> {
    const started = await hub.client.start({ name, input: undefined });
    assert.equal(started.kind, 'created');
    return started.kind === 'created' ? started.instanceId : '';
  }

  it('bufferOne on a single-instance orchestration: a manual run makes the tick wait; one waits, the next skips; it starts once the run ends', async () => {
    const manual = await manualStart('Nightly');
    const t1 = await due('Nightly', 'bufferOne');
    assert.equal(await scheduler.fireDue(), 1);
    const first = await tick('Nightly', t1);
    assert.equal(first.outcome, 'buffered');
    assert.equal(first.instanceId, null);
    assert.equal(first.detail, `waits for ${manual} (Pending) to end`);

    const t2 = await due('Nightly', 'bufferOne');
    await scheduler.fireDue();
    const skipped = await tick('Nightly', t2);
    assert.equal(skipped.outcome, 'skipped');
    assert.match(skipped.detail ?? '', /a tick already waits in the buffer \(bufferOne keeps one\)/);

    assert.equal(await scheduler.fireDue(), 1, 'a schedule with a waiting tick is claimed though not due');
    assert.equal((await tick('Nightly', t1)).startedAt, null, 'still waiting while the manual run is active');

    await hub.client.terminate(manual, 'done by hand');
    await scheduler.fireDue();
    const released = await tick('Nightly', t1);
    assert.equal(released.outcome, 'buffered', 'the outcome stays what the tick did');
    assert.ok(released.startedAt instanceof Date, 'and its row says when its run started');
    const run = await hub.client.get(released.instanceId as string);
    assert.equal(run?.runtimeStatus, 'Pending');
    assert.equal(run?.singletonKey, 'Nightly', "the orchestration's own slot");
    const [schedule] = (await hub.client.schedules(5)).filter((s) => s.name === 'Nightly');
    assert.equal(schedule?.waiting, 0);
    assert.deepEqual([schedule?.bufferedCount, schedule?.skippedCount], [1, 1]);
    assert.deepEqual(schedule?.recentTicks.map((t) => t.outcome), ['skipped', 'buffered']);
  });

  it('allowAll on a single-instance orchestration: the orchestration still allows one run, and the tick says so', async () => {
    const t = await due('Nightly', 'allowAll');
    await scheduler.fireDue();
    const skipped = await tick('Nightly', t);
    assert.equal(skipped.outcome, 'skipped');
    assert.match(skipped.detail ?? '', /is still running; the orchestration itself is single-instance \(allowAll lifts only the schedule's own limit\)/);
  });

  it('terminateOther: the running instance is terminated with a reason naming the tick, and the tick starts its own run', async () => {
    const holder = (await hub.client.list({ name: 'Nightly', statuses: ['Pending'] }, 10, undefined)).rows[0];
    assert.ok(holder);
    const t = await due('Nightly', 'terminateOther');
    await scheduler.fireDue();
    const replaced = await tick('Nightly', t);
    assert.equal(replaced.outcome, 'replaced');
    assert.equal(replaced.detail, `terminated ${holder.instanceId} (Pending)`);
    const old = await hub.client.get(holder.instanceId);
    assert.equal(old?.runtimeStatus, 'Terminated');
    assert.match(JSON.parse(old?.output as string), new RegExp(`overlap terminateOther\\): its tick started ${replaced.instanceId}`));
    assert.equal((await hub.client.get(replaced.instanceId as string))?.runtimeStatus, 'Pending');
  });

  it("a plain orchestration: the schedule's runs hold a slot of their own, which manual starts do not touch; allowAll takes none", async () => {
    const t1 = await due('Plain', 'skip');
    await scheduler.fireDue();
    const started = await tick('Plain', t1);
    assert.equal(started.outcome, 'started');
    assert.equal((await hub.client.get(started.instanceId as string))?.singletonKey, scheduleSlotKey('Plain'));

    const t2 = await due('Plain', 'skip');
    await scheduler.fireDue();
    const skipped = await tick('Plain', t2);
    assert.equal(skipped.outcome, 'skipped');
    assert.equal(skipped.instanceId, started.instanceId, 'names the run still active');
    assert.match(skipped.detail ?? '', /is still running \(overlap skip\)/);

    await manualStart('Plain');
    await manualStart('Plain');

    const t3 = await due('Plain', 'allowAll');
    await scheduler.fireDue();
    const also = await tick('Plain', t3);
    assert.equal(also.outcome, 'started', 'allowAll starts while the schedule has a run active');
    assert.equal((await hub.client.get(also.instanceId as string))?.singletonKey, null);
  });

  it('two schedulers releasing one bufferAll buffer at once start its oldest tick once, then the next, in order', async () => {
    const holder = (await hub.client.list({ name: 'Plain', statuses: ['Pending'] }, 100, undefined)).rows.find((r) => r.singletonKey === scheduleSlotKey('Plain'));
    assert.ok(holder);
    const buffered: Date[] = [];
    for (let i = 0; i < 3; i++) {
      buffered.push(await due('Plain', 'bufferAll'));
      await scheduler.fireDue();
      assert.equal((await tick('Plain', buffered[i]!)).outcome, 'buffered');
    }
    assert.match((await tick('Plain', buffered[2]!)).detail ?? '', /behind 2 buffered tick\(s\)|waits for/);
    await hub.client.terminate(holder.instanceId, 'free the slot');
    await Promise.all([scheduler.fireDue(), second.fireDue(), scheduler.fireDue(), second.fireDue()]);
    const states = await Promise.all(buffered.map((t) => tick('Plain', t)));
    assert.deepEqual(
      states.map((s) => s.startedAt !== null),
      [true, false, false],
      'the oldest started, once: the others wait for it',
    );
    const active = (await hub.client.list({ name: 'Plain', statuses: ['Pending'] }, 100, undefined)).rows.filter((r) => r.singletonKey === scheduleSlotKey('Plain'));
    assert.deepEqual(active.map((r) => r.instanceId), [states[0]!.instanceId], "one run holds the schedule's slot");

    await hub.client.terminate(states[0]!.instanceId as string, 'next');
    await Promise.all([scheduler.fireDue(), second.fireDue()]);
    assert.deepEqual(
      (await Promise.all(buffered.map((t) => tick('Plain', t)))).map((s) => s.startedAt !== null),
      [true, true, false],
    );
  });
});

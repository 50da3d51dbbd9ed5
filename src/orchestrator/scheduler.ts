/**
 * Starts orchestrations on their cron schedules, cluster-safe: each worker process runs this loop,
 * and a schedule row that is due (or has ticks waiting in its buffer) is locked (SKIP LOCKED), its
 * ticks handled and its next tick set in one transaction, so each tick is handled exactly once.
 *
 * What a tick does when the schedule's previous run is still active is its overlap policy
 * (core/schedule.ts; Temporal's ScheduleOverlapPolicy): skip it, buffer it (bufferOne, bufferAll),
 * terminate the running instance and start (terminateOther), or start anyway (allowAll). "Still
 * active" is the unique index's answer, never a read: a schedule's runs hold one single-instance
 * slot (the orchestration's own key when it is single-instance, else the schedule's), so the
 * start that would overlap is refused by the index. A buffered tick is a row of the tick log; the
 * pass that finds the slot free starts the oldest and marks its row, in the same transaction.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { blipBackoffMs, Outage } from '../db/outage.ts';
import { type Pool, type Queryable, describePgError, withTransaction } from '../db/pool.ts';
import { dueTicks, nextTick } from './core/cron.ts';
import { BUFFER_LIMIT, DEFAULT_CATCHUP_WINDOW_SECONDS, mustQueueBehind, type OverlapPolicy, planDueTicks, type Schedule, type TickOutcome, whenHeld } from './core/schedule.ts';
import { deadlineReason } from './deadlines.ts';
import { type EngineContext, terminateExecution } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { newInstanceId, type StartProblem, type Starts } from './starts.ts';
import { findActiveBySingletonKey, type NewInstance } from './store/instances.ts';
import type { Instance } from './core/instance.ts';
import { type ClaimedSchedule, claimSchedules, markBufferedStarted, oldestWaitingTick, pruneTicks, recordTick, untilNextSchedule, upsertSchedule } from './store/schedules.ts';

/** What a tick did: its outcome, the instance (and execution) concerned, and what it found. */
interface TickResult {
  outcome: TickOutcome;
  instanceId: string | null;
  executionId?: string | null;
  detail: string | null;
}

/** Ticks kept per schedule in schedule_ticks (buffered ticks still waiting are always kept). */
const TICKS_KEPT = 1000;
/** The longest the loop sleeps: a schedule registered by another process is found within this. */
const MAX_SLEEP_MS = 1000;
/** How often a schedule with buffered ticks looks whether its running instance has ended: the hand-off's latency. */
const BUFFER_POLL_MS = 200;
/** A next tick for a schedule that never fires again. */
const NEVER = new Date('9999-12-31T00:00:00Z');

/** The single-instance key a schedule's runs hold when the orchestration has none of its own. */
export function scheduleSlotKey(name: string): string {
  return `schedule:${name}`;
}

export class Scheduler {
  private readonly pool: Pool;
  private readonly registry: Registry;
  private readonly starts: Starts;
  private readonly ctx: EngineContext;
  private readonly log: Logger;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private ticks = 0;
  /** The orchestrations this process schedules: the only rows it claims. */
  private readonly scheduled: string[];
  private readonly outage: Outage;

  /** A tick that finds its slot held past the holder's run deadline terminates the holder and starts. */
  constructor(pool: Pool, registry: Registry, starts: Starts, log: Logger, ctx: EngineContext) {
    this.pool = pool;
    this.ctx = ctx;
    this.registry = registry;
    this.starts = starts;
    this.scheduled = registry.listOrchestrations().flatMap((o) => (o.options.schedule ? [o.name] : []));
    this.log = log.child({ component: 'scheduler' });
    this.outage = new Outage(this.log, 'scheduler');
  }

  /** Registers this process's schedules, then starts firing them. */
  async start(): Promise<void> {
    const now = new Date();
    for (const o of this.registry.listOrchestrations()) {
      const schedule = o.options.schedule;
      if (!schedule) continue;
      const next = nextTick(schedule, now);
      if (next === undefined) continue;
      const registration = {
        name: o.name,
        cron: schedule.cron,
        timezone: schedule.timezone ?? 'UTC',
        input: schedule.input === undefined ? undefined : JSON.stringify(schedule.input),
        nextRunAt: next,
        overlap: schedule.overlap ?? 'skip',
        catchupWindowSeconds: schedule.catchupWindowSeconds ?? DEFAULT_CATCHUP_WINDOW_SECONDS,
      };
      await upsertSchedule(this.pool, registration);
      const { input: _input, name: orchestration, ...fields } = registration;
      this.log.info({ orchestration, ...fields, next }, 'schedule registered');
    }
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let delay = MAX_SLEEP_MS;
      try {
        await this.fireDue();
        const { ms, waiting } = await untilNextSchedule(this.pool, this.scheduled);
        if (ms !== null) delay = Math.max(5, Math.min(MAX_SLEEP_MS, Math.ceil(ms)));
        if (waiting) delay = Math.min(delay, BUFFER_POLL_MS);
        failures = 0;
        this.outage.recovered();
      } catch (err) {
        // A lost connection is retried at once with a short backoff (a due tick fires as soon as
        // the database answers); other failures wait for the next pass.
        if (this.outage.failed(err)) delay = blipBackoffMs(failures++);
        else this.log.warn({ err: describePgError(err) }, 'schedule pass failed; retrying');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One pass: every claimed schedule releases its buffer's head if it can and handles its due ticks; returns the schedules handled. */
  async fireDue(): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const claimed = await claimSchedules(client, this.scheduled);
      for (const c of claimed) await this.pass(client, c);
      if (claimed.length > 0 && ++this.ticks % 100 === 0) await pruneTicks(client, TICKS_KEPT);
      return claimed.length;
    });
  }

  private async pass(client: Queryable, { schedule, now }: ClaimedSchedule): Promise<void> {
    let waiting = schedule.waiting;
    if (waiting > 0 && (await this.releaseHead(client, schedule))) waiting--;
    const due = dueTicks(schedule, schedule.nextRunAt, now, BUFFER_LIMIT);
    const last = due.ticks.at(-1);
    if (last === undefined) return;
    const after = nextTick(schedule, last) ?? NEVER;
    if (due.truncated) {
      // More than a buffer's worth of ticks were missed: the oldest are skipped in one row.
      const detail = `this tick and every one until ${due.ticks[0]?.toISOString()} were missed and skipped without a row each (more than ${BUFFER_LIMIT} ticks were due at once)`;
      await this.record(client, schedule, schedule.nextRunAt, { outcome: 'skipped', instanceId: null, detail }, due.ticks[0] ?? after);
    }
    const plans = planDueTicks(due.ticks, now, schedule.overlap, schedule.catchupWindowSeconds);
    for (const [i, plan] of plans.entries()) {
      const result: TickResult =
        plan.skip !== undefined ? { outcome: 'skipped', instanceId: null, detail: plan.skip } : await this.tryTick(client, schedule, waiting, now);
      if (result.outcome === 'buffered') waiting++;
      await this.record(client, schedule, plan.tickAt, result, plans[i + 1]?.tickAt ?? after);
    }
  }

  /** A tick's start through the one start path, and its overlap policy when the slot is held. */
  private async tryTick(client: Queryable, schedule: Schedule, waiting: number, now: Date): Promise<TickResult> {
    const planned = this.planRun(schedule);
    if ('problem' in planned) return { outcome: 'failed', instanceId: null, detail: tickProblem(schedule.name, planned) };
    try {
      const queueBehind = mustQueueBehind(schedule.overlap, waiting);
      if (!queueBehind && (await this.starts.createWithin(client, planned)).created) return started('started', planned, null);
      const holder = planned.singletonKey === null ? undefined : await findActiveBySingletonKey(client, planned.singletonKey, true);
      const overdue = holder === undefined || queueBehind ? undefined : deadlineReason(this.registry, holder, now);
      if (holder !== undefined && overdue !== undefined) return this.replaceOverdue(client, planned, holder, overdue);
      const policy = whenHeld(schedule.overlap, waiting);
      if (policy.action === 'buffer') return { outcome: 'buffered', instanceId: null, detail: bufferedDetail(holder, queueBehind ? waiting : 0) };
      if (policy.action === 'skip') {
        const held = holder === undefined ? 'the slot was taken' : `${holder.instanceId} (${holder.runtimeStatus}) is still running`;
        return { outcome: 'skipped', instanceId: holder?.instanceId ?? null, executionId: holder?.executionId ?? null, detail: `${held}${policy.detail}` };
      }
      return this.terminateOther(client, schedule, planned, holder);
    } catch (err) {
      return { outcome: 'failed', instanceId: null, detail: (err as Error).message };
    }
  }

  /** terminateOther: end the running instance and start, in this transaction. */
  private async terminateOther(client: Queryable, schedule: Schedule, planned: NewInstance, holder: Instance | undefined): Promise<TickResult> {
    const run = { ...planned, executionId: randomUUID() };
    if (holder !== undefined) {
      const reason = `replaced by the schedule of '${schedule.name}' (overlap terminateOther): its tick started ${run.instanceId}`;
      await terminateExecution(this.ctx, client, holder, reason);
      this.log.info({ orchestration: schedule.name, instanceId: holder.instanceId, replacement: run.instanceId }, 'schedule tick terminated the running instance (terminateOther)');
    }
    if ((await this.starts.createWithin(client, run)).created) {
      return started(holder === undefined ? 'started' : 'replaced', run, holder === undefined ? null : `terminated ${holder.instanceId} (${holder.runtimeStatus})`);
    }
    return { outcome: 'skipped', instanceId: null, detail: 'the slot was taken again by another start in the meantime' };
  }

  /** The slot is held by a run past its run deadline: end it and take the slot (whatever the policy). */
  private async replaceOverdue(client: Queryable, planned: NewInstance, holder: Instance, overdue: string): Promise<TickResult> {
    let detail = `the slot was held by ${holder.instanceId} (${holder.runtimeStatus}) past its run deadline`;
    await terminateExecution(this.ctx, client, holder, overdue);
    this.log.warn({ instanceId: holder.instanceId, reason: overdue }, 'instance terminated: run deadline exceeded');
    detail += '; it was terminated';
    const again = { ...planned, executionId: randomUUID() };
    if ((await this.starts.createWithin(client, again)).created) return started('started', again, detail);
    return { outcome: 'skipped', instanceId: holder.instanceId, executionId: holder.executionId, detail };
  }

  /**
   * Starts the oldest buffered tick of a schedule when the slot is free, and marks its row, in this
   * transaction: under the schedule's row lock, and the mark is conditional (a tick leaves the
   * buffer once). True when the head left the buffer.
   */
  private async releaseHead(client: Queryable, schedule: Schedule): Promise<boolean> {
    const tickAt = await oldestWaitingTick(client, schedule.name);
    if (tickAt === undefined) return false;
    const planned = this.planRun(schedule);
    if ('problem' in planned) {
      const detail = `its start failed when the slot freed: ${tickProblem(schedule.name, planned)}`;
      this.log.error({ orchestration: schedule.name, tick: tickAt.toISOString(), error: detail }, 'buffered schedule tick failed');
      return markBufferedStarted(client, schedule.name, tickAt, null, detail);
    }
    // Only a fast path: a visible holder means "not yet"; otherwise the INSERT and the index decide.
    if (planned.singletonKey !== null && (await findActiveBySingletonKey(client, planned.singletonKey)) !== undefined) return false;
    if (!(await this.starts.createWithin(client, planned)).created) return false;
    if (!(await markBufferedStarted(client, schedule.name, tickAt, planned.instanceId, null))) {
      throw new Error(`the buffered tick ${tickAt.toISOString()} of '${schedule.name}' had already left the buffer`);
    }
    this.log.info({ orchestration: schedule.name, tick: tickAt.toISOString(), instanceId: planned.instanceId, executionId: planned.executionId }, 'buffered schedule tick started a run');
    return true;
  }

  /** A run of the schedule: the one start plan, holding the schedule's slot unless the policy is allowAll. */
  private planRun(schedule: Schedule): NewInstance | StartProblem {
    const planned = this.starts.plan({ name: schedule.name, instanceId: newInstanceId(), input: schedule.input ?? undefined });
    return 'problem' in planned ? planned : withScheduleSlot(planned, schedule.overlap);
  }

  private async record(client: Queryable, schedule: Schedule, tickAt: Date, r: TickResult, nextRunAt: Date): Promise<void> {
    await recordTick(client, { name: schedule.name, tickAt, outcome: r.outcome, instanceId: r.instanceId, detail: r.detail, nextRunAt });
    const fields = { orchestration: schedule.name, overlap: schedule.overlap, tick: tickAt.toISOString(), instanceId: r.instanceId, executionId: r.executionId ?? null, next: nextRunAt.toISOString() };
    if (r.outcome === 'started' || r.outcome === 'replaced') this.log.info({ ...fields, detail: r.detail }, 'schedule started a run');
    else if (r.outcome === 'buffered') this.log.info({ ...fields, detail: r.detail }, 'schedule tick buffered: it starts when the running instance ends');
    else if (r.outcome === 'skipped') this.log.warn({ ...fields, reason: r.detail }, 'schedule tick skipped');
    else this.log.error({ ...fields, error: r.detail }, 'schedule tick failed');
  }
}

/** The schedule's runs share one slot: the orchestration's own singleton key, else the schedule's (none with allowAll). */
function withScheduleSlot(planned: NewInstance, overlap: OverlapPolicy): NewInstance {
  if (overlap === 'allowAll' || planned.singletonKey !== null) return planned;
  return { ...planned, singletonKey: scheduleSlotKey(planned.name) };
}

function bufferedDetail(holder: Instance | undefined, ahead: number): string {
  const waitsFor = holder === undefined ? 'waits for the slot to free' : `waits for ${holder.instanceId} (${holder.runtimeStatus}) to end`;
  return ahead > 0 ? `${waitsFor}, behind ${ahead} buffered tick(s)` : waitsFor;
}

function started(outcome: 'started' | 'replaced', run: NewInstance, detail: string | null): TickResult {
  return { outcome, instanceId: run.instanceId, executionId: run.executionId, detail };
}

/** Why a tick could not even try its start, as its tick log says it. */
function tickProblem(name: string, p: StartProblem): string {
  switch (p.problem) {
    case 'unknown-orchestration':
      return `no orchestration named '${name}' is registered on this worker`;
    case 'input-invalid':
      return `the schedule's input is invalid: ${p.reason}`;
    default:
      return p.reason;
  }
}

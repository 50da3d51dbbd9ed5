/**
 * Starts orchestrations on their cron schedules, cluster-safe: each worker process runs this loop,
 * and a due schedule row is locked (SKIP LOCKED), its start attempted and its next tick set in one
 * transaction, so each tick fires exactly once. A tick that finds a single-instance orchestration
 * still running is skipped and recorded (log line, counter, tick log), never a second run.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { blipBackoffMs, Outage } from '../db/outage.ts';
import { type Pool, type Queryable, describePgError, withTransaction } from '../db/pool.ts';
import { nextTick } from './core/cron.ts';
import { deadlineReason } from './deadlines.ts';
import { type EngineContext, terminateExecution } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { newInstanceId, type StartProblem, type Starts } from './starts.ts';
import { findActiveBySingletonKey } from './store/instances.ts';
import type { Schedule, TickOutcome } from './core/schedule.ts';
import { claimDueSchedules, msUntilNextSchedule, pruneTicks, recordTick, upsertSchedule } from './store/schedules.ts';

/** What a tick did: its outcome, the instance (and execution) it started or found holding the slot. */
interface TickResult {
  outcome: TickOutcome;
  instanceId: string | null;
  executionId: string | null;
  detail: string | null;
}

/** Ticks kept per schedule in schedule_ticks. */
const TICKS_KEPT = 1000;
/** The longest the loop sleeps: a schedule registered by another process is found within this. */
const MAX_SLEEP_MS = 1000;

export class Scheduler {
  private readonly pool: Pool;
  private readonly registry: Registry;
  private readonly starts: Starts;
  private readonly ctx: EngineContext | undefined;
  private readonly log: Logger;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private ticks = 0;
  /** The orchestrations this process schedules: the only rows it claims. */
  private readonly scheduled: string[];
  private readonly outage: Outage;

  /** With `ctx`, a tick that finds its slot held past the holder's run deadline terminates the holder and starts. */
  constructor(pool: Pool, registry: Registry, starts: Starts, log: Logger, ctx?: EngineContext) {
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
      await upsertSchedule(this.pool, {
        name: o.name,
        cron: schedule.cron,
        timezone: schedule.timezone ?? 'UTC',
        input: schedule.input === undefined ? undefined : JSON.stringify(schedule.input),
        nextRunAt: next,
      });
      this.log.info({ orchestration: o.name, cron: schedule.cron, timezone: schedule.timezone ?? 'UTC', next }, 'schedule registered');
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
        const ms = await msUntilNextSchedule(this.pool, this.scheduled);
        if (ms !== null) delay = Math.max(5, Math.min(MAX_SLEEP_MS, Math.ceil(ms)));
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

  /** Fires every due schedule once; returns the outcomes recorded. */
  async fireDue(): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const due = await claimDueSchedules(client, this.scheduled);
      for (const row of due) await this.fire(client, row);
      if (due.length > 0 && ++this.ticks % 100 === 0) await pruneTicks(client, TICKS_KEPT);
      return due.length;
    });
  }

  /** A tick's start, through the one start path: started, skipped (the singleton is held) or failed. */
  private async startTick(client: Queryable, row: Schedule, now: Date): Promise<TickResult> {
    const planned = this.starts.plan({ name: row.name, instanceId: newInstanceId(), input: row.input ?? undefined });
    if ('problem' in planned) return { outcome: 'failed', instanceId: null, executionId: null, detail: tickProblem(row.name, planned) };
    try {
      let created = await this.starts.createWithin(client, planned);
      if (created.created) return { outcome: 'started', instanceId: planned.instanceId, executionId: planned.executionId, detail: null };
      const holder = planned.singletonKey === null ? undefined : await findActiveBySingletonKey(client, planned.singletonKey, true);
      const overdue = holder === undefined ? undefined : deadlineReason(this.registry, holder, now);
      if (holder === undefined || overdue === undefined) {
        return {
          outcome: 'skipped',
          instanceId: holder?.instanceId ?? null,
          executionId: holder?.executionId ?? null,
          detail: `the single-instance orchestration is still running${holder ? ` (${holder.instanceId}, ${holder.runtimeStatus})` : ''}`,
        };
      }
      // The slot is held past the holder's run deadline: end the holder and take the slot.
      let detail = `the slot was held by ${holder.instanceId} (${holder.runtimeStatus}) past its run deadline`;
      if (this.ctx !== undefined) {
        await terminateExecution(this.ctx, client, holder, overdue);
        this.log.warn({ instanceId: holder.instanceId, reason: overdue }, 'instance terminated: run deadline exceeded');
        detail += '; it was terminated';
        const again = { ...planned, executionId: randomUUID() };
        created = await this.starts.createWithin(client, again);
        if (created.created) return { outcome: 'started', instanceId: again.instanceId, executionId: again.executionId, detail };
      }
      return { outcome: 'skipped', instanceId: holder.instanceId, executionId: holder.executionId, detail };
    } catch (err) {
      return { outcome: 'failed', instanceId: null, executionId: null, detail: (err as Error).message };
    }
  }

  private async fire(client: Queryable, row: Schedule): Promise<void> {
    const now = new Date();
    const tickAt = row.nextRunAt;
    // After downtime, missed ticks collapse into this one: the next is computed from now.
    const nextRunAt = nextTick(row, tickAt > now ? tickAt : now) ?? new Date('9999-12-31T00:00:00Z');
    const { outcome, instanceId, executionId, detail } = await this.startTick(client, row, now);
    await recordTick(client, { name: row.name, tickAt, outcome, instanceId, detail, nextRunAt });
    const fields = { orchestration: row.name, tick: tickAt.toISOString(), instanceId, executionId, next: nextRunAt.toISOString() };
    if (outcome === 'started') this.log.info(fields, 'schedule started a run');
    else if (outcome === 'skipped') this.log.warn({ ...fields, reason: detail }, 'schedule tick skipped: the previous run is still active');
    else this.log.error({ ...fields, error: detail }, 'schedule tick failed');
  }
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

/**
 * Starts orchestrations on their cron schedules, cluster-safe: each worker process runs this loop,
 * and a due schedule row is locked (SKIP LOCKED), its start attempted and its next tick set in one
 * transaction, so each tick fires exactly once. A tick that finds a single-instance orchestration
 * still running is skipped and recorded (log line, counter, tick log), never a second run.
 */
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type { Logger } from 'pino';
import { blipBackoffMs, Outage } from '../db/outage.ts';
import { type Pool, describePgError, withTransaction } from '../db/pool.ts';
import { deadlineReason, terminateForDeadline } from './deadlines.ts';
import type { EngineContext } from './lifecycle.ts';
import type { Registry, ScheduleOptions } from './registry.ts';
import { createInstance, findActiveBySingletonKey } from './store/instances.ts';
import { claimDueSchedules, msUntilNextSchedule, pruneTicks, recordTick, type ScheduleRow, upsertSchedule } from './store/schedules.ts';
import { notifyWake } from './store/turns.ts';

/** Ticks kept per schedule in schedule_ticks. */
const TICKS_KEPT = 1000;
/** The longest the loop sleeps: a schedule registered by another process is found within this. */
const MAX_SLEEP_MS = 1000;

/** The next tick strictly after `after`, or undefined for a schedule that never fires again. */
export function nextTick(schedule: Pick<ScheduleOptions, 'cron' | 'timezone'>, after: Date): Date | undefined {
  const cron = new Cron(schedule.cron, { timezone: schedule.timezone ?? 'UTC', paused: true });
  return cron.nextRun(after) ?? undefined;
}

/** Throws a clear error for a bad cron expression or time zone (checked at registration). */
export function validateSchedule(name: string, schedule: ScheduleOptions): void {
  try {
    nextTick(schedule, new Date(0));
  } catch (err) {
    throw new Error(`orchestration '${name}' has an invalid schedule: ${(err as Error).message}`, { cause: err });
  }
}

export class Scheduler {
  private readonly pool: Pool;
  private readonly registry: Registry;
  private readonly schema: string;
  private readonly log: Logger;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private ticks = 0;
  private readonly outage: Outage;

  private readonly ctx: EngineContext | undefined;

  /** With `ctx`, a tick that finds its slot held past the holder's run deadline terminates the holder and starts. */
  constructor(pool: Pool, registry: Registry, schema: string, log: Logger, ctx?: EngineContext) {
    this.pool = pool;
    this.ctx = ctx;
    this.registry = registry;
    this.schema = schema;
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
        const ms = await msUntilNextSchedule(this.pool);
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
      const due = await claimDueSchedules(client);
      for (const row of due) await this.fire(client, row);
      if (due.length > 0 && ++this.ticks % 100 === 0) await pruneTicks(client, TICKS_KEPT);
      return due.length;
    });
  }

  private async fire(client: Parameters<typeof createInstance>[0], row: ScheduleRow): Promise<void> {
    const now = new Date();
    const tickAt = row.next_run_at;
    // After downtime, missed ticks collapse into this one: the next is computed from now.
    const nextRunAt = nextTick(row, tickAt > now ? tickAt : now) ?? new Date('9999-12-31T00:00:00Z');
    const registered = this.registry.getOrchestration(row.name);
    let outcome: 'started' | 'skipped' | 'failed';
    let instanceId: string | null = null;
    let executionId: string | null = null;
    let detail: string | null = null;
    if (registered === undefined) {
      outcome = 'failed';
      detail = `no orchestration named '${row.name}' is registered on this worker`;
    } else {
      try {
        const input = row.input === null ? null : JSON.parse(row.input);
        const problem = this.registry.inputProblem(registered.name, input);
        if (problem !== undefined) throw new Error(`the schedule's input is invalid: ${problem}`);
        const key = this.registry.singletonKey(registered.name, input);
        const newId = randomUUID().replaceAll('-', '');
        const newExecution = randomUUID();
        const create = () =>
          createInstance(client, { instanceId: newId, name: registered.name, executionId: newExecution, input: row.input ?? undefined, singletonKey: key });
        let created = await create();
        if (!created.created && key !== null) {
          const holder = await findActiveBySingletonKey(client, key, true);
          const overdue = holder === undefined ? undefined : deadlineReason(this.registry, holder, now);
          if (holder !== undefined && overdue !== undefined) {
            detail = `the slot was held by ${holder.instance_id} (${holder.runtime_status}) past its run deadline`;
            if (this.ctx !== undefined) {
              await terminateForDeadline(this.ctx, client, holder, overdue);
              this.log.warn({ instanceId: holder.instance_id, executionId: holder.execution_id, reason: overdue }, 'instance terminated: run deadline exceeded');
              detail += '; it was terminated';
              created = await create();
            }
          } else {
            detail = `the single-instance orchestration is still running${holder ? ` (${holder.instance_id}, ${holder.runtime_status})` : ''}`;
          }
          if (!created.created) {
            instanceId = holder?.instance_id ?? null;
            executionId = holder?.execution_id ?? null;
          }
        }
        if (created.created) {
          outcome = 'started';
          instanceId = newId;
          executionId = newExecution;
          await notifyWake(client, this.schema);
        } else {
          outcome = 'skipped';
        }
      } catch (err) {
        outcome = 'failed';
        instanceId = null;
        executionId = null;
        detail = (err as Error).message;
      }
    }
    await recordTick(client, { name: row.name, tickAt, outcome, instanceId, detail, nextRunAt });
    const fields = { orchestration: row.name, tick: tickAt.toISOString(), instanceId, executionId, next: nextRunAt.toISOString() };
    if (outcome === 'started') this.log.info(fields, 'schedule started a run');
    else if (outcome === 'skipped') this.log.warn({ ...fields, reason: detail }, 'schedule tick skipped: the previous run is still active');
    else this.log.error({ ...fields, error: detail }, 'schedule tick failed');
  }
}

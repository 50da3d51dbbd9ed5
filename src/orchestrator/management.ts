/**
 * The management verbs of the control plane: start, read, list, raise, terminate, suspend, resume,
 * rewind, restart, purge. Each runs in one transaction and takes the instance's row lock, so it is
 * serialised with the instance's turns. Conflicts and wrong states are EngineErrors with domain codes;
 * the HTTP layer maps them (src/routes/errors.ts).
 */
import { randomUUID } from 'node:crypto';
import { type Client, type Pool, type Queryable, withTransaction } from '../db/pool.ts';
import { displayKey, type Waiting } from './core/concurrency.ts';
import { type KeyRow, listKeys, queuePosition } from './store/concurrency.ts';
import { EngineError } from './engine-error.ts';
import { EntityClient } from './entities.ts';
import type { HistoryEvent } from './core/history.ts';
import type { CompletionWatch } from './completions.ts';
import { type EngineContext, terminateExecution } from './lifecycle.ts';
import { rewindLocked } from './rewind.ts';
import type { Starts, StartOutcome, StartRequest } from './starts.ts';
import { appendHistory, loadHistory } from './store/history.ts';
import { deliver } from './store/inbox.ts';
import {
  type Cursor,
  deleteInstance,
  getInstance,
  type ListFilter,
  listInstances,
  lockInstance,
  purgeInstances,
  updateInstance,
} from './store/instances.ts';
import type { Instance, InstanceCount } from './core/instance.ts';
import type { Schedule, Tick } from './core/schedule.ts';
import { listSchedules, listTicks } from './store/schedules.ts';
import { countInstances, countPendingTimers } from './store/stats.ts';
import { notifyWake } from './store/turns.ts';
import { eventMessageId } from './core/message-ids.ts';
import { isTerminal, TERMINAL_STATUSES } from './core/statuses.ts';

export type { OnConflict, StartOutcome, StartRequest } from './starts.ts';

export interface StatusOptions {
  history?: boolean;
}

/** An instance as the status verb reads it: the row, its history when asked, why it waits when it does. */
export interface InstanceStatus {
  instance: Instance;
  history?: HistoryEvent[];
  waiting?: Waiting | undefined;
}

export class Management {
  private readonly ctx: EngineContext;
  private readonly starts: Starts;
  /** Wake-ups for waiting requests; without it a wait polls the instance at its own interval. */
  readonly completions: CompletionWatch | undefined;
  /** The entity verbs: signal, read, list (src/orchestrator/entities.ts). */
  readonly entities: EntityClient;

  /** @internal A running hub makes it (hub.client). */
  constructor(ctx: EngineContext, starts: Starts, completions?: CompletionWatch) {
    this.ctx = ctx;
    this.starts = starts;
    this.completions = completions;
    this.entities = new EntityClient(ctx, starts.registry);
  }

  private get pool(): Pool {
    return this.ctx.pool;
  }

  /** Starts an instance: see Starts.start (the one start path). */
  async start(request: StartRequest): Promise<StartOutcome> {
    return this.starts.start(request);
  }

  async get(instanceId: string): Promise<Instance | undefined> {
    return getInstance(this.pool, instanceId);
  }

  /** The instance and (optionally) its current execution's history. */
  async status(instanceId: string, options: StatusOptions = {}): Promise<InstanceStatus | undefined> {
    if (!options.history) {
      const instance = await getInstance(this.pool, instanceId);
      return instance && { instance, waiting: await this.waitingOf(this.pool, instance) };
    }
    // One snapshot for the row and its history.
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const instance = await getInstance(client, instanceId);
      const history = instance ? await loadHistory(client, instanceId, instance.executionId) : [];
      const waiting = instance && (await this.waitingOf(client, instance));
      await client.query('COMMIT');
      return instance && { instance, history, waiting };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Why an active instance is not running yet: its key's queue (and its place in it) or its debounce window. */
  private async waitingOf(db: Queryable, instance: Instance): Promise<Waiting | undefined> {
    if (isTerminal(instance.runtimeStatus) || instance.singletonKey === null) return undefined;
    const key = displayKey(instance.singletonKey);
    if (instance.debounceAt) return { reason: 'debounce', key, startsAt: instance.debounceAt.toISOString() };
    if (instance.queuedSeq === null || instance.queuedSeq === undefined) return undefined;
    return { reason: 'concurrency', key, position: await queuePosition(db, instance.singletonKey, instance.queuedSeq) };
  }

  /** The active, queued and debouncing instances of the named orchestrations, by key (GET /concurrency). */
  async concurrencyKeys(names: readonly string[]): Promise<{ rows: KeyRow[]; truncated: boolean }> {
    return listKeys(this.pool, names);
  }

  async list(filter: ListFilter, top: number, after: Cursor | undefined, newestFirst = false): Promise<{ rows: Instance[]; next: Cursor | undefined }> {
    return listInstances(this.pool, filter, top, after, newestFirst);
  }

  /** Instances per orchestration name and runtime status. */
  async counts(): Promise<InstanceCount[]> {
    return countInstances(this.pool);
  }

  /** Durable timers not yet due, across all instances. */
  async pendingTimers(): Promise<number> {
    return countPendingTimers(this.pool);
  }

  /** A schedule's recent ticks, newest first; undefined when no schedule has that name. */
  async scheduleTicks(name: string, limit: number): Promise<Tick[] | undefined> {
    const schedule = (await listSchedules(this.pool)).find((s) => s.name.toLowerCase() === name.toLowerCase());
    return schedule && listTicks(this.pool, schedule.name, limit);
  }

  /**
   * Purges an instance, its history and its pending messages (the foreign keys cascade). An active
   * instance is terminated first in the same transaction, as terminate does it (its activity jobs
   * cancelled, a parent told that its child ended), so nothing is left half-done and no job is
   * left to run: a crash before COMMIT leaves the instance as it was.
   */
  async purge(instanceId: string): Promise<number> {
    const terminated = await withTransaction(this.pool, async (client) => {
      const row = await this.mustLock(client, instanceId);
      const active = !isTerminal(row.runtimeStatus);
      if (active) await terminateExecution(this.ctx, client, row, 'purged while active');
      await deleteInstance(client, instanceId);
      return active;
    });
    if (terminated) this.completions?.ended(instanceId);
    return 1;
  }

  async purgeMany(filter: ListFilter): Promise<number> {
    return purgeInstances(this.pool, filter, TERMINAL_STATUSES);
  }

  /** Delivers an external event (buffered until the orchestration waits for it). */
  async raiseEvent(instanceId: string, eventName: string, payload: string): Promise<void> {
    const delivered = await withTransaction(this.pool, async (client) => {
      const n = await deliver(client, [
        {
          instanceId,
          executionId: undefined,
          messageId: eventMessageId(randomUUID()),
          event: { type: 'EventRaised', name: eventName, timestamp: new Date().toISOString(), payload },
        },
      ]);
      if (n > 0) await notifyWake(client, this.ctx.schema);
      return n;
    });
    if (delivered === 0) {
      const row = await getInstance(this.pool, instanceId);
      if (row === undefined) throw new EngineError('INSTANCE_NOT_FOUND', `No instance with ID '${instanceId}' was found.`);
      throw new EngineError('INSTANCE_ENDED', `Instance '${instanceId}' is ${row.runtimeStatus}; it can no longer receive events.`);
    }
  }

  async terminate(instanceId: string, reason: string | undefined): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const row = await this.mustLock(client, instanceId);
      this.mustBeActive(row);
      await terminateExecution(this.ctx, client, row, reason);
    });
    this.completions?.ended(instanceId);
  }

  /**
   * Resolves when the instance may have ended (a wake-up), after `timeoutMs`, or when `signal`
   * aborts; the caller reads the instance again. Without a completion watch, after `pollMs`.
   */
  async untilEnded(instanceId: string, timeoutMs: number, pollMs: number, signal: AbortSignal): Promise<void> {
    if (this.completions !== undefined) return this.completions.wait(instanceId, timeoutMs, signal);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(pollMs, timeoutMs));
      signal.addEventListener('abort', done);
    });
  }

  async suspend(instanceId: string, reason: string | undefined): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const row = await this.mustLock(client, instanceId);
      this.mustBeActive(row);
      if (row.runtimeStatus === 'Suspended') {
        throw new EngineError('WRONG_STATE', `Instance '${instanceId}' is already Suspended.`, { runtimeStatus: row.runtimeStatus });
      }
      await this.mark(client, row, { type: 'ExecutionSuspended', reason, timestamp: new Date().toISOString() }, 'Suspended');
    });
  }

  async resume(instanceId: string, reason: string | undefined): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const row = await this.mustLock(client, instanceId);
      this.mustBeActive(row);
      if (row.runtimeStatus !== 'Suspended') {
        throw new EngineError('WRONG_STATE', `Instance '${instanceId}' is ${row.runtimeStatus}, not Suspended.`, { runtimeStatus: row.runtimeStatus });
      }
      await this.mark(client, row, { type: 'ExecutionResumed', reason, timestamp: new Date().toISOString() }, row.historyLength === 0 ? 'Pending' : 'Running');
      await notifyWake(client, this.ctx.schema);
    });
  }

  /**
   * Rewinds a Failed instance: the failures at the end of its history (after its last scheduled
   * action) are removed, those activities run again (failed sub-orchestrations are rewound or
   * restarted), the successful results stay, and the instance is Running again.
   */
  async rewind(instanceId: string, reason: string | undefined): Promise<void> {
    await withTransaction(this.pool, (client) => rewindLocked(this.ctx, this.starts, client, instanceId, reason));
  }

  /** Starts the orchestration again with its original input, under a new id or the same one. */
  async restart(instanceId: string, newId: boolean): Promise<StartOutcome> {
    const row = await getInstance(this.pool, instanceId);
    if (row === undefined) throw new EngineError('INSTANCE_NOT_FOUND', `No instance with ID '${instanceId}' was found.`);
    return this.start({ name: row.name, instanceId: newId ? undefined : instanceId, input: row.input ?? undefined });
  }

  /** Registered schedules with their policy, next tick, last outcome, waiting buffer and (with `recent`) newest ticks. */
  async schedules(recent = 0): Promise<Schedule[]> {
    return listSchedules(this.pool, recent);
  }

  /** Appends a marker event (suspend/resume) and sets the status; a Pending instance has no history yet. */
  private async mark(client: Client, row: Instance, event: HistoryEvent, status: 'Suspended' | 'Running' | 'Pending'): Promise<void> {
    const events = row.historyLength === 0 ? [] : [event];
    await appendHistory(client, row.instanceId, row.executionId, row.historyLength, events);
    await updateInstance(client, row.instanceId, {
      status,
      historyLength: row.historyLength + events.length,
      wake: status === 'Suspended' ? undefined : 'now',
    });
  }

  private async mustLock(client: Client, instanceId: string): Promise<Instance> {
    const row = await lockInstance(client, instanceId);
    if (row === undefined) throw new EngineError('INSTANCE_NOT_FOUND', `No instance with ID '${instanceId}' was found.`);
    return row;
  }

  private mustBeActive(row: Instance): void {
    if (isTerminal(row.runtimeStatus)) {
      throw new EngineError('INSTANCE_ENDED', `Instance '${row.instanceId}' is already ${row.runtimeStatus}.`, { runtimeStatus: row.runtimeStatus });
    }
  }
}

/**
 * One orchestration turn = one transaction: lock the instance row (under this worker's lease), read
 * the due messages and the history, replay, append the new history, consume the messages, update
 * the row and enqueue the new activity jobs through pg-boss on the same connection. A crash anywhere
 * leaves nothing half-done; a second worker replaying the same turn collides on history's key.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Client, type Pool, withTransaction } from '../db/pool.ts';
import { NonDeterminismError } from './core/failures.ts';
import type { FailureDetails, HistoryEvent } from './core/history.ts';
import { type EngineContext, endExecution, failInstance, failureOutput } from './lifecycle.ts';
import type { ActivityJob, WakeUp } from './ports.ts';
import type { Registry } from './registry.ts';
import { childStartProblem, type Starts } from './starts.ts';
import { type Action, Executor, type TurnResult } from './core/executor.ts';
import { dropOtherExecutions, loadHistory } from './store/history.ts';
import { clearOtherExecutions, consume, deliver, type InboxMessage, receive } from './store/inbox.ts';
import { lockInstance, updateInstance } from './store/instances.ts';
import type { Instance } from './core/instance.ts';
import { commitTurn } from './store/turns.ts';
import { eventMessageId, subOrchestrationResultId, timerId } from './core/message-ids.ts';
import { isRunnable } from './core/statuses.ts';

export interface RunnerOptions {
  poisonAttempts: number;
  maxHistoryEvents: number;
  maxPendingTasks: number;
  /** Messages applied per turn; the rest wait for the next turn (keeps transactions bounded). */
  messagesPerTurn: number;
  /** Executors kept in memory to continue from instead of replaying from scratch. */
  cacheSize: number;
  /** Called after a turn that enqueued activity jobs commits (wakes a local worker without NOTIFY). */
  onJobsEnqueued?: WakeUp;
}

/** What a turn did besides its own rows, for the wake-ups after it commits. */
interface TurnEffects {
  jobs: number;
}

interface Cached {
  executionId: string;
  historyLength: number;
  executor: Executor;
}

export class TurnRunner {
  private readonly pool: Pool;
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly starts: Starts;
  private readonly log: Logger;
  private readonly options: RunnerOptions;
  private readonly cache = new Map<string, Cached>();

  constructor(pool: Pool, ctx: EngineContext, registry: Registry, starts: Starts, log: Logger, options: RunnerOptions) {
    this.pool = pool;
    this.ctx = ctx;
    this.registry = registry;
    this.starts = starts;
    this.log = log;
    this.options = options;
  }

  /** Runs one turn of a claimed instance. Resolves true when the turn committed. */
  async run(instanceId: string, owner: string, attempts: number): Promise<boolean> {
    let keep: Cached | undefined;
    try {
      const effects: TurnEffects = { jobs: 0 };
      const committed = await withTransaction(this.pool, async (client) => {
        keep = undefined;
        effects.jobs = 0;
        return this.turn(client, instanceId, owner, attempts, effects, (cached) => (keep = cached));
      });
      if (committed && effects.jobs > 0) this.options.onJobsEnqueued?.();
      if (committed && keep) this.remember(instanceId, keep);
      else this.cache.delete(instanceId);
      return committed;
    } catch (err) {
      this.cache.delete(instanceId);
      throw err;
    }
  }

  private remember(instanceId: string, entry: Cached): void {
    entry.executor.confirmActions();
    this.cache.delete(instanceId);
    this.cache.set(instanceId, entry);
    if (this.cache.size > this.options.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  private async turn(
    client: Client,
    instanceId: string,
    owner: string,
    attempts: number,
    effects: TurnEffects,
    keep: (cached: Cached) => void,
  ): Promise<boolean> {
    const row = await lockInstance(client, instanceId);
    if (row === undefined) return false;
    if (row.leaseOwner !== owner) return false; // another worker took it over after our lease expired
    if (!isRunnable(row.runtimeStatus)) {
      await updateInstance(client, instanceId, { wake: null });
      return true;
    }
    if (attempts > this.options.poisonAttempts) {
      this.log.error({ instanceId, attempts }, 'orchestration turn quarantined after repeated crashes');
      await failInstance(this.ctx, client, row, {
        type: 'PoisonTurn',
        message: `quarantined: a turn of this orchestration was attempted ${attempts - 1} times without committing (a worker crashed or timed out each time)`,
      });
      return true;
    }
    const registered = this.registry.getOrchestration(row.name);
    if (registered === undefined) {
      await failInstance(this.ctx, client, row, {
        type: 'OrchestrationNotRegistered',
        message: `no orchestration named '${row.name}' is registered on this worker`,
      });
      return true;
    }

    const messages = await receive(client, instanceId, this.options.messagesPerTurn);
    const current = messages.filter((m) => m.executionId === null || m.executionId === row.executionId);
    const now = new Date().toISOString();
    const fresh = row.historyLength === 0;
    const newEvents: HistoryEvent[] = [{ type: 'OrchestratorStarted', timestamp: now }];
    if (fresh) {
      newEvents.push({
        type: 'ExecutionStarted',
        name: row.name,
        timestamp: now,
        payload: row.input ?? undefined,
        parentInstanceId: row.parentInstanceId ?? undefined,
      });
    }
    newEvents.push(...current.map((m) => m.event));

    const cached = this.cache.get(instanceId);
    let executor: Executor;
    let result: TurnResult;
    let accepted: HistoryEvent[];
    try {
      if (cached && cached.executionId === row.executionId && cached.historyLength === row.historyLength && !fresh) {
        executor = cached.executor;
      } else {
        executor = new Executor(registered.fn, {
          instanceId,
          name: row.name,
          parentInstanceId: row.parentInstanceId ?? undefined,
        });
        executor.replay(fresh ? [] : await loadHistory(client, instanceId, row.executionId));
      }
      ({ accepted, result } = executor.apply(newEvents));
    } catch (err) {
      if (!(err instanceof NonDeterminismError)) throw err;
      this.log.error({ instanceId, err: err.message }, 'non-deterministic orchestration failed');
      await consume(client, instanceId, messages.map((m) => m.messageId));
      await failInstance(this.ctx, client, row, { type: err.name, message: err.message });
      return true;
    }
    for (const line of executor.takeLogs()) this.log.info({ instanceId, orchestration: row.name, ...line.fields }, line.message);

    const consumed = messages.map((m) => m.messageId);
    // Limits are checked before anything is carried out (each action adds one history event).
    const limit = this.checkLimits(row.historyLength + accepted.length + result.actions.length, executor, result);
    if (limit !== undefined) {
      await consume(client, instanceId, consumed);
      await failInstance(this.ctx, client, row, limit);
      return true;
    }
    const actionEvents = await this.carryOut(client, row, result.actions, now, effects);
    const events = [...accepted, ...actionEvents];
    const length = row.historyLength + events.length;

    const completion = result.completion;
    if (completion === undefined && events.length === accepted.length && accepted.every((e) => e.type === 'OrchestratorStarted')) {
      // Nothing happened (a wake-up with nothing due, e.g. after resume): record nothing.
      await consume(client, instanceId, consumed);
      await updateInstance(client, instanceId, { status: fresh ? 'Pending' : 'Running', wake: 'inbox' });
      return true;
    }
    if (completion === undefined) {
      await commitTurn(client, {
        instanceId,
        executionId: row.executionId,
        consumed,
        firstSeq: row.historyLength,
        events,
        customStatus: result.customStatus ?? null,
      });
      keep({ executionId: row.executionId, historyLength: length, executor });
      return true;
    }
    await consume(client, instanceId, consumed);
    if (completion.status === 'ContinuedAsNew') {
      await this.continueAsNew(client, row, completion.input, completion.carryOver, result.customStatus);
      return true;
    }
    const failure: FailureDetails | undefined = completion.status === 'Failed' ? completion.failure : undefined;
    const closing: HistoryEvent = {
      type: 'ExecutionCompleted',
      status: completion.status,
      timestamp: now,
      payload: completion.status === 'Completed' ? completion.output : undefined,
      failure,
    };
    await endExecution(
      this.ctx,
      client,
      row,
      {
        status: completion.status,
        output: completion.status === 'Completed' ? completion.output : failureOutput(row.name, completion.failure),
        failure,
        customStatus: result.customStatus ?? undefined,
        mayHaveOpenTasks: executor.openTasks > 0,
      },
      [...events, closing],
    );
    return true;
  }

  private checkLimits(length: number, executor: Executor, result: TurnResult): FailureDetails | undefined {
    if (length > this.options.maxHistoryEvents) {
      return {
        type: 'HistoryLimitExceeded',
        message: `history would grow to ${length} events, over the limit of ${this.options.maxHistoryEvents} (TASKHUB_MAX_HISTORY_EVENTS); use continueAsNew for long-running loops`,
      };
    }
    const pending = executor.openTasks;
    if (result.completion === undefined && pending > this.options.maxPendingTasks) {
      return {
        type: 'PendingTasksLimitExceeded',
        message: `the orchestration has ${pending} tasks pending at once, over the limit of ${this.options.maxPendingTasks} (TASKHUB_MAX_PENDING_TASKS)`,
      };
    }
    return undefined;
  }

  /** Records the turn's actions as history events and carries out their side effects. */
  private async carryOut(
    client: Client,
    row: Instance,
    actions: readonly Action[],
    now: string,
    effects: TurnEffects,
  ): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    const jobs: ActivityJob[] = [];
    const timers: InboxMessage[] = [];
    for (const action of actions) {
      switch (action.kind) {
        case 'ScheduleTask': {
          const jobId = randomUUID();
          events.push({ type: 'TaskScheduled', taskId: action.taskId, name: action.name, jobId, timestamp: now, payload: action.input });
          jobs.push({
            id: jobId,
            data: { instanceId: row.instanceId, executionId: row.executionId, taskId: action.taskId, name: action.name, input: action.input },
          });
          break;
        }
        case 'CreateTimer':
          events.push({ type: 'TimerCreated', taskId: action.taskId, fireAt: action.fireAt, timestamp: now });
          timers.push({
            instanceId: row.instanceId,
            executionId: row.executionId,
            messageId: timerId(row.executionId, action.taskId),
            deliverAt: action.fireAt,
            event: { type: 'TimerFired', taskId: action.taskId, fireAt: action.fireAt, timestamp: action.fireAt },
          });
          break;
        case 'CreateSubOrchestration':
          events.push({
            type: 'SubOrchestrationInstanceCreated',
            taskId: action.taskId,
            name: action.name,
            instanceId: action.instanceId,
            timestamp: now,
            payload: action.input,
          });
          await this.startChild(client, row, action);
          break;
      }
    }
    await this.ctx.activities.enqueue(client, jobs);
    effects.jobs += jobs.length;
    // A durable timer is a message due at its fire time.
    await deliver(client, timers);
    return events;
  }

  private async startChild(
    client: Client,
    row: Instance,
    action: Extract<Action, { kind: 'CreateSubOrchestration' }>,
  ): Promise<void> {
    const fail = async (message: string): Promise<void> => {
      await deliver(client, [
        {
          instanceId: row.instanceId,
          executionId: row.executionId,
          messageId: subOrchestrationResultId(row.executionId, action.taskId),
          event: {
            type: 'SubOrchestrationInstanceFailed',
            taskId: action.taskId,
            timestamp: new Date().toISOString(),
            failure: { type: 'SubOrchestrationStartFailed', message },
          },
        },
      ]);
    };
    const spec = {
      name: action.name,
      instanceId: action.instanceId,
      input: action.input,
      parent: { instanceId: row.instanceId, executionId: row.executionId, taskId: action.taskId },
    };
    const planned = this.starts.plan(spec);
    if ('problem' in planned) {
      await fail(childStartProblem(spec, planned));
      return;
    }
    const outcome = await this.starts.createWithin(client, planned);
    if (!outcome.created) {
      await fail(
        outcome.reason === 'instance-active'
          ? `an instance with ID '${action.instanceId}' is already ${outcome.status}`
          : `'${action.name}' is single-instance and already has an active instance`,
      );
    }
  }

  private async continueAsNew(
    client: Client,
    row: Instance,
    input: string | undefined,
    carryOver: HistoryEvent[],
    customStatus: string | undefined,
  ): Promise<void> {
    const executionId = randomUUID();
    await dropOtherExecutions(client, row.instanceId, executionId);
    await clearOtherExecutions(client, row.instanceId, executionId);
    await updateInstance(client, row.instanceId, {
      status: 'ContinuedAsNew',
      executionId,
      input: input ?? null,
      historyLength: 0,
      customStatus: customStatus ?? null,
      wake: 'now',
    });
    // Events that arrived but were not yet awaited go on to the new execution, in their order.
    await deliver(
      client,
      carryOver.map((event) => ({ instanceId: row.instanceId, executionId: undefined, messageId: eventMessageId(randomUUID()), event })),
    );
  }
}

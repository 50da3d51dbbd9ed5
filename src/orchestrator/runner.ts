/**
 * One orchestration turn = one transaction: lock the instance row (under this worker's lease), read
 * the due messages and the history, replay, append the new history, consume the messages, update
 * the row and enqueue the new activity jobs through pg-boss on the same connection. A crash anywhere
 * leaves nothing half-done; a second worker replaying the same turn collides on history's key.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type ActivityJobData, enqueueActivities } from '../activities/queue.ts';
import { type Client, type Pool, withTransaction } from '../db/pool.ts';
import { NonDeterminismError } from './errors.ts';
import { instanceIdProblem } from './ids.ts';
import type { FailureDetails, HistoryEvent } from './history.ts';
import { type EngineContext, endExecution, failInstance, failureOutput } from './lifecycle.ts';
import { NO_INSTRUMENTATION, type TurnObservation } from './instrumentation.ts';
import type { Registry } from './registry.ts';
import { type Action, Executor, type RetryOf, type TurnResult } from './replay.ts';
import { dropOtherExecutions, loadHistory } from './store/history.ts';
import { clearOtherExecutions, consume, deliver, type InboxMessage, receive, requeueAhead } from './store/inbox.ts';
import { createInstance, lockInstance, updateInstance } from './store/instances.ts';
import type { InstanceRow } from './store/rows.ts';
import { commitTurn, notifyWake } from './store/turns.ts';

export interface RunnerOptions {
  poisonAttempts: number;
  maxHistoryEvents: number;
  maxPendingTasks: number;
  maxPayloadBytes: number;
  /** Messages applied per turn; the rest wait for the next turn (keeps transactions bounded). */
  messagesPerTurn: number;
  /** Executors kept in memory to continue from instead of replaying from scratch. */
  cacheSize: number;
  /** Called after a turn that enqueued activity jobs commits (wakes a local worker without NOTIFY). */
  onJobsEnqueued?: () => void;
  /** Called after a turn that ended its execution commits (wakes requests waiting for it). */
  onExecutionEnded?: (instanceId: string) => void;
}

/** What a turn did besides its own rows, for the wake-ups after it commits and for instrumentation. */
interface TurnEffects {
  jobs: number;
  /** The execution ended (completed, failed, terminated): waiters are told after commit. */
  ended: boolean;
  /** History events replayed to rebuild the orchestrator (0: continued from the cache). */
  replayed: number;
  observation?: TurnObservation | undefined;
  /** The execution the turn ran for, once its row is locked (for log lines). */
  executionId?: string | undefined;
}

interface Cached {
  executionId: string;
  historyLength: number;
  executor: Executor;
}

/**
 * A timer's message is stored when the timer is created, so its row time is the creating turn's;
 * it fires in the turn that applies it: that turn's time, and never before its fire time.
 */
function firedAt(event: HistoryEvent, now: string): HistoryEvent {
  if (event.type !== 'TimerFired') return event;
  return { ...event, timestamp: Date.parse(event.fireAt) > Date.parse(now) ? event.fireAt : now };
}

export class TurnRunner {
  private readonly pool: Pool;
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly options: RunnerOptions;
  private readonly cache = new Map<string, Cached>();

  constructor(pool: Pool, ctx: EngineContext, registry: Registry, log: Logger, options: RunnerOptions) {
    this.pool = pool;
    this.ctx = ctx;
    this.registry = registry;
    this.log = log;
    this.options = options;
  }

  /** Runs one turn of a claimed instance. Resolves true when the turn committed. */
  async run(instanceId: string, owner: string, attempts: number): Promise<boolean> {
    let keep: Cached | undefined;
    const effects: TurnEffects = { jobs: 0, ended: false, replayed: 0 };
    try {
      const committed = await withTransaction(this.pool, async (client) => {
        keep = undefined;
        effects.jobs = 0;
        effects.ended = false;
        effects.replayed = 0;
        return this.turn(client, instanceId, owner, attempts, effects, (cached) => (keep = cached));
      });
      effects.observation?.end('committed', effects.replayed);
      if (committed && effects.jobs > 0) this.options.onJobsEnqueued?.();
      if (committed && effects.ended) this.options.onExecutionEnded?.(instanceId);
      if (committed && keep) this.remember(instanceId, keep);
      else this.cache.delete(instanceId);
      return committed;
    } catch (err) {
      effects.observation?.end('error', effects.replayed);
      this.cache.delete(instanceId);
      // The dispatcher logs the failure: tell it which execution the turn was of.
      if (effects.executionId !== undefined && typeof err === 'object' && err !== null) {
        (err as { executionId?: string }).executionId ??= effects.executionId;
      }
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
    if (row.lease_owner !== owner) return false; // another worker took it over after our lease expired
    if (row.runtime_status !== 'Pending' && row.runtime_status !== 'Running' && row.runtime_status !== 'ContinuedAsNew') {
      await updateInstance(client, instanceId, { wake: null });
      return true;
    }
    effects.executionId = row.execution_id;
    // Every line about this turn names the instance and the execution.
    const log = this.log.child({ instanceId, executionId: row.execution_id });
    if (attempts > this.options.poisonAttempts) {
      log.error({ attempts }, 'orchestration turn quarantined after repeated crashes');
      effects.ended = true;
      await failInstance(this.ctx, client, row, {
        type: 'PoisonTurn',
        message: `quarantined: a turn of this orchestration was attempted ${attempts - 1} times without committing (a worker crashed or timed out each time)`,
      });
      return true;
    }
    // A retried transaction observes again from here: only its last attempt is ended.
    effects.observation ??= (this.ctx.instrumentation ?? NO_INSTRUMENTATION).turn({
      instanceId,
      executionId: row.execution_id,
      name: row.name,
      traceparent: row.trace_context,
    });
    const registered = this.registry.getOrchestration(row.name);
    if (registered === undefined) {
      effects.ended = true;
      await failInstance(this.ctx, client, row, {
        type: 'OrchestrationNotRegistered',
        message: `no orchestration named '${row.name}' is registered on this worker`,
      });
      return true;
    }

    const messages = await receive(client, instanceId, this.options.messagesPerTurn);
    const current = messages.filter((m) => m.executionId === null || m.executionId === row.execution_id);
    const now = new Date().toISOString();
    const fresh = row.history_length === 0;
    const newEvents: HistoryEvent[] = [{ type: 'OrchestratorStarted', timestamp: now }];
    if (fresh) {
      newEvents.push({
        type: 'ExecutionStarted',
        name: row.name,
        timestamp: now,
        payload: row.input ?? undefined,
        parentInstanceId: row.parent_instance_id ?? undefined,
      });
    }
    newEvents.push(...current.map((m) => firedAt(m.event, now)));

    const cached = this.cache.get(instanceId);
    let executor: Executor;
    let result: TurnResult;
    let accepted: HistoryEvent[];
    try {
      if (cached && cached.executionId === row.execution_id && cached.historyLength === row.history_length && !fresh) {
        executor = cached.executor;
      } else {
        executor = new Executor(
          registered.fn,
          { instanceId, name: row.name, parentInstanceId: row.parent_instance_id ?? undefined },
          {
            maxPendingTasks: this.options.maxPendingTasks,
            maxHistoryEvents: this.options.maxHistoryEvents,
            maxPayloadBytes: this.options.maxPayloadBytes,
          },
        );
        const history = fresh ? [] : await loadHistory(client, instanceId, row.execution_id);
        effects.replayed = history.length;
        executor.replay(history);
      }
      ({ accepted, result } = executor.apply(newEvents));
    } catch (err) {
      if (!(err instanceof NonDeterminismError)) throw err;
      log.error({ err: err.message }, 'non-deterministic orchestration failed');
      await consume(client, instanceId, messages.map((m) => m.messageId));
      effects.ended = true;
      await failInstance(this.ctx, client, row, { type: err.name, message: err.message });
      return true;
    }
    for (const line of executor.takeLogs()) log.info({ orchestration: row.name, ...line.fields }, line.message);

    const consumed = messages.map((m) => m.messageId);
    // Limits are checked before anything is carried out (each action adds one history event).
    const limit = this.checkLimits(row.history_length + accepted.length + result.actions.length, executor, result);
    if (limit !== undefined) {
      await consume(client, instanceId, consumed);
      effects.ended = true;
      await failInstance(this.ctx, client, row, limit);
      return true;
    }
    const actionEvents = await this.carryOut(client, row, result.actions, now, effects, (taskId) => executor.retryOf(taskId));
    const events = [...accepted, ...actionEvents];
    const length = row.history_length + events.length;

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
        executionId: row.execution_id,
        consumed,
        firstSeq: row.history_length,
        events,
        customStatus: result.customStatus ?? null,
      });
      keep({ executionId: row.execution_id, historyLength: length, executor });
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
    effects.ended = true;
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
    row: InstanceRow,
    actions: readonly Action[],
    now: string,
    effects: TurnEffects,
    retryOf: (taskId: number) => RetryOf | undefined,
  ): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    const jobs: Array<{ id: string; data: ActivityJobData }> = [];
    const timers: InboxMessage[] = [];
    for (const action of actions) {
      switch (action.kind) {
        case 'ScheduleTask': {
          const jobId = randomUUID();
          events.push({ type: 'TaskScheduled', taskId: action.taskId, name: action.name, jobId, timestamp: now, payload: action.input });
          jobs.push({
            id: jobId,
            data: {
              instanceId: row.instance_id,
              executionId: row.execution_id,
              taskId: action.taskId,
              name: action.name,
              input: action.input,
              ...retryOf(action.taskId),
              trace: effects.observation?.traceparent,
            },
          });
          break;
        }
        case 'CreateTimer':
          events.push({ type: 'TimerCreated', taskId: action.taskId, fireAt: action.fireAt, timestamp: now });
          timers.push({
            instanceId: row.instance_id,
            executionId: row.execution_id,
            messageId: `timer:${row.execution_id}:${action.taskId}`,
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
          await this.startChild(client, row, action, effects.observation?.traceparent);
          break;
      }
    }
    await enqueueActivities(this.ctx.boss, client, jobs);
    effects.jobs += jobs.length;
    // A durable timer is a message due at its fire time.
    await deliver(client, timers);
    return events;
  }

  private async startChild(
    client: Client,
    row: InstanceRow,
    action: Extract<Action, { kind: 'CreateSubOrchestration' }>,
    traceparent: string | undefined,
  ): Promise<void> {
    const fail = async (message: string): Promise<void> => {
      await deliver(client, [
        {
          instanceId: row.instance_id,
          executionId: row.execution_id,
          messageId: `sub:${row.execution_id}:${action.taskId}`,
          event: {
            type: 'SubOrchestrationInstanceFailed',
            taskId: action.taskId,
            timestamp: new Date().toISOString(),
            failure: { type: 'SubOrchestrationStartFailed', message },
          },
        },
      ]);
    };
    if (this.registry.getOrchestration(action.name) === undefined) {
      await fail(`no orchestration named '${action.name}' is registered`);
      return;
    }
    const idProblem = instanceIdProblem(action.instanceId);
    if (idProblem !== undefined) {
      // The default child id is `${parentId}:${taskId}`, which a long parent id can push past the limit.
      await fail(`the sub-orchestration instance ID '${action.instanceId}' ${idProblem}; pass an explicit, shorter instance ID`);
      return;
    }
    const childInput = action.input === undefined ? undefined : JSON.parse(action.input);
    const inputProblem = this.registry.inputProblem(action.name, childInput ?? null);
    if (inputProblem !== undefined) {
      await fail(`the input of '${action.name}' is invalid: ${inputProblem}`);
      return;
    }
    let singletonKey: string | null;
    try {
      singletonKey = this.registry.singletonKey(action.name, childInput);
    } catch (err) {
      await fail(`the singleton key of '${action.name}' could not be computed: ${(err as Error).message}`);
      return;
    }
    const outcome = await createInstance(client, {
      instanceId: action.instanceId,
      name: this.registry.getOrchestration(action.name)?.name ?? action.name,
      executionId: randomUUID(),
      input: action.input,
      singletonKey,
      parent: { instanceId: row.instance_id, executionId: row.execution_id, taskId: action.taskId },
      traceContext: traceparent,
    });
    if (outcome.created) {
      await notifyWake(client, this.ctx.schema);
    } else {
      await fail(
        outcome.reason === 'instance-active'
          ? `an instance with ID '${action.instanceId}' is already ${outcome.status}`
          : `'${action.name}' is single-instance and already has an active instance`,
      );
    }
  }

  private async continueAsNew(
    client: Client,
    row: InstanceRow,
    input: string | undefined,
    carryOver: HistoryEvent[],
    customStatus: string | undefined,
  ): Promise<void> {
    const executionId = randomUUID();
    await dropOtherExecutions(client, row.instance_id, executionId);
    await clearOtherExecutions(client, row.instance_id, executionId);
    await updateInstance(client, row.instance_id, {
      status: 'ContinuedAsNew',
      executionId,
      input: input ?? null,
      historyLength: 0,
      customStatus: customStatus ?? null,
      wake: 'now',
    });
    // Events that arrived but were not yet awaited go on to the new execution, in their order and
    // ahead of the messages this turn did not read (the instance is locked and active: no delivery
    // check needed; its wake-up is 'now' above).
    await requeueAhead(client, row.instance_id, carryOver.map((event) => ({ messageId: `event:${randomUUID()}`, event })));
  }
}

/**
 * One orchestration turn = one transaction, in three steps: load (lock the instance row under this
 * worker's lease, read the due messages; the history only when no cached executor can continue),
 * decide (replay, then core/decide.ts turns what replay said into the turn's effects), persist
 * (carry out the effects and commit: one statement for an ordinary turn, with the pg-boss jobs
 * inserted on the same connection). A crash anywhere leaves nothing half-done; a second worker
 * replaying the same turn collides on history's key.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Client, withTransaction } from '../db/pool.ts';
import type { Orchestrator } from './core/context.ts';
import { type Decision, decide, type Effects } from './core/decide.ts';
import { Executor, type TurnResult } from './core/executor.ts';
import { NonDeterminismError } from './core/failures.ts';
import type { HistoryEvent } from './core/history.ts';
import type { Instance } from './core/instance.ts';
import { isEntityInstanceId, parseEntityInstanceId } from './core/entities.ts';
import { eventMessageId } from './core/message-ids.ts';
import { EntityRunner } from './entity-runner.ts';
import { isRunnable } from './core/statuses.ts';
import { type EngineContext, endExecution, failInstance } from './lifecycle.ts';
import { NO_INSTRUMENTATION, type TurnObservation } from './instrumentation.ts';
import type { ActivityHandoff, ClaimedJob, WakeUp } from './ports.ts';
import type { Registry } from './registry.ts';
import type { Starts } from './starts.ts';
import { dropOtherExecutions, loadHistory } from './store/history.ts';
import { clearOtherExecutions, consume, deliver, type ReceivedMessage, receive, requeueAhead } from './store/inbox.ts';
import { lockInstance, updateInstance } from './store/instances.ts';
import { sendToEntities, wakeEntities } from './store/entities.ts';
import { commitTurn, wakeChannel } from './store/turns.ts';

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
  onJobsEnqueued?: WakeUp;
  /** This process's activity worker lending its free slots: a turn's jobs are enqueued claimed for it. */
  activityHandoff?: ActivityHandoff;
  /** Called after a turn that ended its execution commits (wakes requests waiting for it). */
  onExecutionEnded?: (instanceId: string) => void;
  /** An entity operation still running after this long fails (TASKHUB_ENTITY_OPERATION_TIMEOUT_MS, default 10 s). */
  entityOperationTimeoutMs?: number;
}

interface Cached {
  executionId: string;
  historyLength: number;
  executor: Executor;
}

/** How a turn's transaction ended: committed or not, jobs enqueued, the execution ended, an executor to keep. */
interface TurnOutcome {
  committed: boolean;
  jobs: number;
  /** The execution ended (completed, failed, terminated): waiters are told after commit. */
  ended: boolean;
  keep?: Cached | undefined;
  /** Entities the turn sent operations to: woken after the commit (store/entities.ts). */
  entities?: string[] | undefined;
  /**
   * The commit made nothing due and set no due time that the dispatcher's next sleep must know of
   * (a turn that only scheduled activities, or ended an instance nobody waits on): its end is no
   * reason to claim again.
   */
  quiet?: boolean;
}

/** How a turn ended, for the dispatcher: committed or not, and whether it may have made work due. */
export interface TurnEnd {
  committed: boolean;
  /** See TurnOutcome.quiet. */
  quiet: boolean;
}

/** What outlives a retried transaction of one turn: its observation, for instrumentation and logs. */
interface TurnState {
  /** History events replayed to rebuild the orchestrator (0: continued from the cache). */
  replayed: number;
  observation?: TurnObservation | undefined;
  /** The execution the turn ran for, once its row is locked (for log lines). */
  executionId?: string | undefined;
  /** Activity slots reserved in this attempt of the transaction (ActivityHandoff), and the jobs claimed with them. */
  reservedSlots: number;
  claimedJobs: ClaimedJob[];
}

/** A claimed instance whose turn can run, with what the turn applies. */
interface Loaded {
  row: Instance;
  /** Every line about this turn names the instance and the execution. */
  log: Logger;
  fn: Orchestrator;
  messages: ReceivedMessage[];
  /** OrchestratorStarted, ExecutionStarted (first turn), then the messages of this execution. */
  newEvents: HistoryEvent[];
  fresh: boolean;
  now: string;
}

/** What replay said about the turn. */
interface Replayed {
  executor: Executor;
  accepted: HistoryEvent[];
  result: TurnResult;
}

/**
 * A timer's message is stored when the timer is created, so its row time is the creating turn's;
 * it fires in the turn that applies it: that turn's time, and never before its fire time.
 */
function firedAt(event: HistoryEvent, now: string): HistoryEvent {
  if (event.type !== 'TimerFired') return event;
  return { ...event, timestamp: Date.parse(event.fireAt) > Date.parse(now) ? event.fireAt : now };
}

const DONE: TurnOutcome = { committed: true, jobs: 0, ended: false };
const ENDED: TurnOutcome = { committed: true, jobs: 0, ended: true };
const NOT_OURS: TurnOutcome = { committed: false, jobs: 0, ended: false };

export class TurnRunner {
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly starts: Starts;
  private readonly log: Logger;
  private readonly options: RunnerOptions;
  private readonly cache = new Map<string, Cached>();
  private readonly entities: EntityRunner;

  constructor(ctx: EngineContext, registry: Registry, starts: Starts, log: Logger, options: RunnerOptions) {
    this.ctx = ctx;
    this.registry = registry;
    this.starts = starts;
    this.log = log;
    this.options = options;
    this.entities = new EntityRunner(ctx, registry, log, {
      poisonAttempts: options.poisonAttempts,
      // Each operation is user code run inside the turn's transaction: a smaller batch than messages.
      operationsPerTurn: Math.min(options.messagesPerTurn, 100),
      operationTimeoutMs: options.entityOperationTimeoutMs ?? 10_000,
      maxPayloadBytes: options.maxPayloadBytes,
    });
  }

  /** Runs one turn of a claimed instance (an orchestration's, or an entity's). Resolves true when the turn committed. */
  async run(instanceId: string, owner: string, attempts: number): Promise<TurnEnd> {
    if (isEntityInstanceId(instanceId)) return { committed: await this.entities.run(instanceId, owner, attempts), quiet: false };
    let outcome: TurnOutcome;
    const state: TurnState = { replayed: 0, reservedSlots: 0, claimedJobs: [] };
    try {
      outcome = await withTransaction(this.ctx.pool, (client) => {
        this.releaseSlots(state); // a retried transaction reserves again
        state.replayed = 0;
        return this.turn(client, instanceId, owner, attempts, state);
      });
      state.observation?.end('committed', state.replayed);
    } catch (err) {
      this.releaseSlots(state);
      state.observation?.end('error', state.replayed);
      this.cache.delete(instanceId);
      // The dispatcher logs the failure: tell it which execution the turn was of.
      if (state.executionId !== undefined && typeof err === 'object' && err !== null) {
        (err as { executionId?: string }).executionId ??= state.executionId;
      }
      throw err;
    }
    if (state.reservedSlots > 0) this.options.activityHandoff?.adopt(state.reservedSlots, state.claimedJobs);
    // Jobs claimed for this process need no wake-up: only the others are announced.
    if (outcome.committed && outcome.jobs > 0) this.options.onJobsEnqueued?.();
    if (outcome.committed && outcome.ended) this.options.onExecutionEnded?.(instanceId);
    if (outcome.committed && outcome.keep) this.remember(instanceId, outcome.keep);
    else this.cache.delete(instanceId);
    if (outcome.committed && outcome.entities !== undefined && outcome.entities.length > 0) {
      // After the commit, outside the transaction: the wake-up waits for an entity turn in progress.
      await wakeEntities(this.ctx.pool, outcome.entities, wakeChannel(this.ctx.schema)).catch((err: unknown) =>
        this.log.warn({ instanceId, err: (err as Error).message }, 'waking entities failed; the sweep wakes them'),
      );
    }
    return { committed: outcome.committed, quiet: outcome.committed && outcome.quiet === true };
  }

  /** load → decide → persist. */
  private async turn(client: Client, instanceId: string, owner: string, attempts: number, state: TurnState): Promise<TurnOutcome> {
    const loaded = await this.load(client, instanceId, owner, attempts, state);
    if (!('row' in loaded)) return loaded;
    const replayed = await this.replay(client, loaded, state);
    if (replayed instanceof NonDeterminismError) return this.failNonDeterministic(client, loaded, replayed);
    const { row, now } = loaded;
    const facts = {
      instanceId,
      executionId: row.executionId,
      name: row.name,
      historyLength: row.historyLength,
      now,
      openTasks: replayed.executor.openTasks,
      limits: { maxHistoryEvents: this.options.maxHistoryEvents, maxPendingTasks: this.options.maxPendingTasks },
    };
    const { executor } = replayed;
    const trace = state.observation?.traceparent;
    const decision = decide(facts, replayed.accepted, replayed.result, { jobId: () => randomUUID(), retryOf: (taskId) => executor.retryOf(taskId), trace });
    return this.persist(client, loaded, replayed.executor, decision, trace, state);
  }

  /** Gives back the activity slots a transaction that did not commit had reserved. */
  private releaseSlots(state: TurnState): void {
    if (state.reservedSlots > 0) this.options.activityHandoff?.release(state.reservedSlots);
    state.reservedSlots = 0;
    state.claimedJobs = [];
  }

  /**
   * Locks the claimed row and reads what the turn applies. A turn with nothing to replay ends here:
   * the lease is another worker's, the instance is not runnable (its wake-up is cleared), its turns
   * keep crashing workers (quarantined), or its orchestration is not registered on this worker.
   */
  private async load(client: Client, instanceId: string, owner: string, attempts: number, state: TurnState): Promise<Loaded | TurnOutcome> {
    // The row's lock and the turn's messages in one round trip: the read is pipelined behind the lock
    // and runs once the lock is held. Read in vain when the turn ends early (not ours, not runnable).
    const [row, messages] = await Promise.all([lockInstance(client, instanceId), receive(client, instanceId, this.options.messagesPerTurn)]);
    if (row === undefined) return NOT_OURS;
    if (row.leaseOwner !== owner) return NOT_OURS; // another worker took it over after our lease expired
    if (!isRunnable(row.runtimeStatus)) {
      await updateInstance(client, instanceId, { wake: null });
      return DONE;
    }
    state.executionId = row.executionId;
    const log = this.log.child({ instanceId, executionId: row.executionId });
    if (attempts > this.options.poisonAttempts) {
      log.error({ attempts }, 'orchestration turn quarantined after repeated crashes');
      await failInstance(this.ctx, client, row, {
        type: 'PoisonTurn',
        message: `quarantined: a turn of this orchestration was attempted ${attempts - 1} times without committing (a worker crashed or timed out each time)`,
      });
      return ENDED;
    }
    // A retried transaction observes again from here: only its last attempt is ended.
    state.observation ??= (this.ctx.instrumentation ?? NO_INSTRUMENTATION).turn({ instanceId, executionId: row.executionId, name: row.name, traceparent: row.traceContext });
    const registered = this.registry.getOrchestration(row.name);
    if (registered === undefined) {
      await failInstance(this.ctx, client, row, { type: 'OrchestrationNotRegistered', message: `no orchestration named '${row.name}' is registered on this worker` });
      return ENDED;
    }
    const now = new Date().toISOString();
    const fresh = row.historyLength === 0;
    const newEvents: HistoryEvent[] = [{ type: 'OrchestratorStarted', timestamp: now }];
    if (fresh) {
      newEvents.push({ type: 'ExecutionStarted', name: row.name, timestamp: now, payload: row.input ?? undefined, parentInstanceId: row.parentInstanceId ?? undefined });
    }
    for (const m of messages) if (m.executionId === null || m.executionId === row.executionId) newEvents.push(firedAt(m.event, now));
    return { row, log, fn: registered.fn, messages, newEvents, fresh, now };
  }

  /** Continues the cached executor when it is at this history, else replays from scratch; then applies the turn. */
  private async replay(client: Client, loaded: Loaded, state: TurnState): Promise<Replayed | NonDeterminismError> {
    const { row, fresh } = loaded;
    const cached = this.cache.get(row.instanceId);
    try {
      let executor: Executor;
      if (cached && cached.executionId === row.executionId && cached.historyLength === row.historyLength && !fresh) {
        executor = cached.executor;
      } else {
        const { maxPendingTasks, maxHistoryEvents, maxPayloadBytes } = this.options;
        const info = { instanceId: row.instanceId, name: row.name, parentInstanceId: row.parentInstanceId ?? undefined };
        executor = new Executor(loaded.fn, info, { maxPendingTasks, maxHistoryEvents, maxPayloadBytes });
        const history = fresh ? [] : await loadHistory(client, row.instanceId, row.executionId);
        state.replayed = history.length;
        executor.replay(history);
      }
      const { accepted, result } = executor.apply(loaded.newEvents);
      for (const line of executor.takeLogs()) loaded.log.info({ orchestration: row.name, ...line.fields }, line.message);
      return { executor, accepted, result };
    } catch (err) {
      if (err instanceof NonDeterminismError) return err;
      throw err;
    }
  }

  private async failNonDeterministic(client: Client, loaded: Loaded, err: NonDeterminismError): Promise<TurnOutcome> {
    loaded.log.error({ err: err.message }, 'non-deterministic orchestration failed');
    await consume(client, loaded.row.instanceId, loaded.messages.map((m) => m.messageId));
    await failInstance(this.ctx, client, loaded.row, { type: err.name, message: err.message });
    return ENDED;
  }

  /** Writes the decision: the effects first (children, jobs, timers), then the turn's commit. */
  private async persist(client: Client, loaded: Loaded, executor: Executor, decision: Decision, trace: string | undefined, state: TurnState): Promise<TurnOutcome> {
    const { row, fresh } = loaded;
    const consumed = loaded.messages.map((m) => m.messageId);
    switch (decision.kind) {
      case 'idle':
        // Nothing happened (a wake-up with nothing due, e.g. after resume): record nothing.
        await consume(client, row.instanceId, consumed);
        await updateInstance(client, row.instanceId, { status: fresh ? 'Pending' : 'Running', wake: 'inbox' });
        return DONE;
      case 'fail':
        await consume(client, row.instanceId, consumed);
        await failInstance(this.ctx, client, row, decision.failure);
        return ENDED;
    }
    const jobs = await this.carryOut(client, row, decision.effects, trace, state);
    const entities = decision.effects.entityMessages.map((m) => m.instanceId);
    const { effects } = decision;
    // Children and timers are due (now or later), unread messages wait for the next turn.
    const quietEffects = effects.children.length === 0 && effects.timers.length === 0 && entities.length === 0 && loaded.messages.length < this.options.messagesPerTurn;
    switch (decision.kind) {
      case 'continue': {
        const { events, customStatus } = decision;
        await commitTurn(client, { instanceId: row.instanceId, executionId: row.executionId, consumed, firstSeq: row.historyLength, events, customStatus });
        return { committed: true, jobs, ended: false, entities, quiet: quietEffects, keep: { executionId: row.executionId, historyLength: row.historyLength + events.length, executor } };
      }
      case 'continueAsNew':
        await consume(client, row.instanceId, consumed);
        await this.continueAsNew(client, row, decision.input, decision.carryOver, decision.customStatus);
        return { committed: true, jobs, ended: false, entities };
      case 'end':
        await consume(client, row.instanceId, consumed);
        await endExecution(
          this.ctx,
          client,
          row,
          { status: decision.status, output: decision.output, failure: decision.failure, customStatus: decision.customStatus, mayHaveOpenTasks: decision.mayHaveOpenTasks },
          decision.events,
        );
        // A parent gets the child's result, a key's slot goes to its next waiter: both make turns due.
        return { committed: true, jobs, ended: true, entities, quiet: quietEffects && row.parentInstanceId === null && row.singletonKey === null };
    }
  }

  /**
   * Starts the children, enqueues the activity jobs and sets the timers; returns how many jobs are
   * left for any worker to fetch. As many jobs as this process's activity worker has free slots for
   * are enqueued claimed for it (ActivityHandoff): it runs them after the commit, without a fetch.
   */
  private async carryOut(client: Client, row: Instance, effects: Effects, trace: string | undefined, state: TurnState): Promise<number> {
    for (const child of effects.children) await this.starts.startChild(client, row, child, trace);
    const handoff = this.options.activityHandoff;
    const reserved = handoff !== undefined && effects.jobs.length > 0 ? handoff.reserve(effects.jobs.length) : 0;
    state.reservedSlots += reserved;
    const claimed = await this.ctx.activities.enqueue(client, effects.jobs, reserved);
    state.claimedJobs.push(...claimed);
    await deliver(client, effects.timers);
    await sendToEntities(client, effects.entityMessages.map((m) => ({ ...m, entityName: parseEntityInstanceId(m.instanceId)?.name ?? '' })));
    return effects.jobs.length - claimed.length;
  }

  private async continueAsNew(client: Client, row: Instance, input: string | undefined, carryOver: HistoryEvent[], customStatus: string | undefined): Promise<void> {
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
    // Events that arrived but were not yet awaited go on to the new execution, in their order and
    // ahead of the messages this turn did not read (the instance is locked and active: no delivery
    // check needed; its wake-up is 'now' above).
    await requeueAhead(client, row.instanceId, carryOver.map((event) => ({ messageId: eventMessageId(randomUUID()), event })));
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
}

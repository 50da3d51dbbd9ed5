/**
 * The executor: runs an orchestrator over its recorded history, then over the new events of this
 * turn, and says what to do next (new actions, and whether the execution ended). Every replayed
 * action is checked against history by kind and name; a mismatch is a NonDeterminismError naming
 * the task id, the expected and the actual action. Pure: no I/O, no clock, no randomness; time
 * and ids come from history.
 *
 * The executor is stateful and incremental: `replay(history)` once, then `apply(newEvents)` for
 * each turn; a worker that keeps it can continue from it instead of replaying from scratch.
 */
import { v5 as uuidv5 } from 'uuid';
import type { DurableOrchestrationContext, OrchestrationContext, Orchestrator } from './context.ts';
import { NonDeterminismError, TimerOutOfRangeError } from './failures.ts';
import type { CompletionEvent, EventOf, FailureDetails, HistoryEvent } from './history.ts';
import { fromJson, toFailure, toJson } from './history.ts';
import { CallHttpTask, type CallHttpOptions, HTTP_ACTIVITY, httpRequest } from './http.ts';
import {
  type ActionKind,
  AtomicTask,
  EventTask,
  RetryableTask,
  type RetryOptions,
  type RetryScheduler,
  Task,
  TimerTask,
  WhenAllTask,
  WhenAnyTask,
} from './tasks.ts';

/**
 * The fire times a timer can have: toISOString() writes years 0001-9999 as plain ISO text, which
 * PostgreSQL's timestamptz reads; other years come out as +275760-… or -000001-…, which it rejects.
 */
const EARLIEST_TIMER = new Date('0001-01-01T00:00:00.000Z');
const LATEST_TIMER = new Date('9999-12-31T23:59:59.999Z');

/** Something the orchestrator asked for in this turn, to be recorded and carried out. */
export type Action =
  | { kind: 'ScheduleTask'; taskId: number; name: string; input: string | undefined }
  | { kind: 'CreateTimer'; taskId: number; fireAt: string }
  | { kind: 'CreateSubOrchestration'; taskId: number; name: string; instanceId: string; input: string | undefined };

export type Completion =
  | { status: 'Completed'; output: string | undefined }
  | { status: 'Failed'; failure: FailureDetails }
  | { status: 'ContinuedAsNew'; input: string | undefined; carryOver: EventOf<'EventRaised'>[] };

export interface TurnResult {
  /** New actions, in the order the orchestrator made them. Empty once the execution has ended. */
  actions: Action[];
  completion: Completion | undefined;
  customStatus: string | undefined;
}

/** A retry's link to its logical call: the first attempt's task id, and how often the call ran before. */
export interface RetryOf {
  callTaskId: number;
  priorAttempts: number;
}

export interface InstanceInfo {
  instanceId: string;
  name: string;
  parentInstanceId?: string | undefined;
}

/**
 * Limits checked at the moment the orchestrator asks for the action that crosses them, so a
 * 10-million fan-out stops at the first task over the limit (milliseconds, flat memory) instead of
 * being built whole and refused afterwards. Each names the setting that raises it.
 */
export interface AdmissionLimits {
  maxPendingTasks: number;
  maxHistoryEvents: number;
  /** Largest JSON text of one input (activity, sub-orchestration, continueAsNew) or custom status. */
  maxPayloadBytes: number;
}

/** Thrown into the orchestrator at the call that crossed a limit; the execution fails with it even if caught. */
export class LimitExceededError extends Error {
  readonly failure: FailureDetails;
  constructor(failure: FailureDetails) {
    super(failure.message);
    this.name = failure.type;
    this.failure = { ...failure, nonRetryable: true };
  }
}

/** Bytes of a string in UTF-8, without allocating (the replay core uses no Node APIs). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Namespace of newGuid's name-based UUIDs (the one Durable Functions uses). */
const GUID_NAMESPACE = '9e952958-5e33-4daf-827f-2fa12937b875';

const DESCRIBE: Record<ActionKind, string> = {
  ScheduleTask: 'activity',
  CreateTimer: 'timer',
  CreateSubOrchestration: 'sub-orchestration',
};

const SCHEDULED_KIND: Partial<Record<HistoryEvent['type'], ActionKind>> = {
  TaskScheduled: 'ScheduleTask',
  TimerCreated: 'CreateTimer',
  SubOrchestrationInstanceCreated: 'CreateSubOrchestration',
};

export class Executor {
  private readonly orchestrator: Orchestrator;
  private readonly info: InstanceInfo;
  private generator: Generator<Task, unknown, unknown> | undefined;
  private waitingOn: Task | undefined;
  private replaying = true;
  private now = new Date(0);
  private input: string | undefined;
  private nextTaskId = 0;
  private guidCounter = 0;
  private customStatus: string | undefined;
  private continueAsNewInput: { input: string | undefined } | undefined;
  private completion: Completion | undefined;
  /** Actions made by the code that history has not (yet) recorded, by task id. */
  private readonly unconfirmed = new Map<number, Action>();
  /** Activity tasks that retry an earlier attempt of the same call (callActivityWithRetry), by task id. */
  private readonly retries = new Map<number, RetryOf>();
  /** Tasks waiting for their completion event, by task id. */
  private readonly open = new Map<number, AtomicTask>();
  /** Task ids that already completed: a second completion is a duplicate delivery. */
  private readonly closed = new Set<number>();
  /** External events nobody waited for yet, per lower-cased name, in arrival order (`seq` orders them across names). */
  private readonly buffered = new Map<string, Array<{ event: EventOf<'EventRaised'>; seq: number }>>();
  private arrivals = 0;
  private readonly waiters = new Map<string, EventTask[]>();
  private readonly logs: Array<{ message: string; fields?: Record<string, unknown> | undefined }> = [];

  private readonly limits: AdmissionLimits | undefined;
  /** Events in history so far (replayed and accepted), for the history limit. */
  private recordedEvents = 0;
  /** The first limit crossed: the execution ends Failed with it, whatever the code does next. */
  private limitFailure: FailureDetails | undefined;

  constructor(orchestrator: Orchestrator, info: InstanceInfo, limits?: AdmissionLimits) {
    this.orchestrator = orchestrator;
    this.info = info;
    this.limits = limits;
  }

  /** Tasks waiting for a completion (activities, timers, sub-orchestrations). */
  get openTasks(): number {
    return this.open.size;
  }

  get isFinished(): boolean {
    return this.completion !== undefined;
  }

  /** Replays recorded history. Throws NonDeterminismError when the code does not match it. */
  replay(history: readonly HistoryEvent[]): void {
    this.replaying = true;
    for (const event of history) this.applyOne(event, true);
    this.recordedEvents += history.length;
  }

  /**
   * Applies this turn's new events and returns what to do. Returns the events that were taken
   * (duplicates and late completions are left out, so they are not recorded twice).
   */
  apply(events: readonly HistoryEvent[]): { accepted: HistoryEvent[]; result: TurnResult } {
    this.replaying = false;
    const accepted: HistoryEvent[] = [];
    for (const event of events) {
      if (this.completion !== undefined && event.type !== 'OrchestratorStarted') {
        // The runner consumes every message of the turn: an event raised after continueAsNew belongs
        // to the next execution and must be carried over, not dropped.
        if (this.completion.status === 'ContinuedAsNew' && event.type === 'EventRaised') this.completion.carryOver.push(event);
        continue;
      }
      if (this.applyOne(event, false)) {
        accepted.push(event);
        this.recordedEvents++;
      }
    }
    return { accepted, result: this.result() };
  }

  /** For an activity task that retries an earlier attempt: its call's identity (not part of history). */
  retryOf(taskId: number): RetryOf | undefined {
    return this.retries.get(taskId);
  }

  /** Marks the actions returned by the last turn as recorded (after its transaction committed). */
  confirmActions(): void {
    this.unconfirmed.clear();
  }

  /** Lines the orchestrator logged in this turn (never during replay). */
  takeLogs(): Array<{ message: string; fields?: Record<string, unknown> | undefined }> {
    return this.logs.splice(0);
  }

  private result(): TurnResult {
    return {
      actions: this.completion === undefined ? [...this.unconfirmed.values()] : [],
      completion: this.completion,
      customStatus: this.customStatus,
    };
  }

  /** Returns false for a new event that is dropped (a duplicate or unknown completion). */
  private applyOne(event: HistoryEvent, recorded: boolean): boolean {
    switch (event.type) {
      case 'OrchestratorStarted':
        this.now = new Date(event.timestamp);
        return true;
      case 'ExecutionStarted':
        this.input = event.payload;
        this.start();
        return true;
      case 'TaskScheduled':
      case 'TimerCreated':
      case 'SubOrchestrationInstanceCreated':
        this.confirm(event);
        return true;
      case 'TaskCompleted':
      case 'TaskFailed':
      case 'TimerFired':
      case 'SubOrchestrationInstanceCompleted':
      case 'SubOrchestrationInstanceFailed':
        try {
          return this.complete(event, recorded);
        } catch (err) {
          // A retry scheduled from a completion (callActivityWithRetry's next attempt) crossed a limit.
          if (!(err instanceof LimitExceededError)) throw err;
          this.finish({ status: 'Failed', failure: err.failure });
          return true;
        }
      case 'EventRaised':
        this.raise(event);
        return true;
      default:
        // Suspend/resume/terminate/rewind markers and the execution's end change nothing in replay.
        return true;
    }
  }

  private start(): void {
    if (this.generator !== undefined) throw new NonDeterminismError('history holds two ExecutionStarted events');
    try {
      const generator = this.orchestrator(this.makeContext());
      if (generator === null || typeof generator !== 'object' || typeof generator.next !== 'function') {
        throw new TypeError(`orchestrator '${this.info.name}' must be a generator function (function*)`);
      }
      this.generator = generator;
    } catch (err) {
      this.finish({ status: 'Failed', failure: toFailure(err) });
      return;
    }
    this.drive();
  }

  private confirm(event: EventOf<'TaskScheduled' | 'TimerCreated' | 'SubOrchestrationInstanceCreated'>): void {
    const expected = SCHEDULED_KIND[event.type] as ActionKind;
    const expectedName = event.type === 'TimerCreated' ? 'timer' : event.name;
    const action = this.unconfirmed.get(event.taskId);
    if (action === undefined) {
      throw new NonDeterminismError(
        `Non-deterministic orchestrator '${this.info.name}': history has ${DESCRIBE[expected]} '${expectedName}' ` +
          `as task ${event.taskId}, but the code did not schedule task ${event.taskId} at that point.`,
      );
    }
    const actualName = action.kind === 'CreateTimer' ? 'timer' : action.name;
    if (action.kind !== expected || actualName !== expectedName) {
      throw new NonDeterminismError(
        `Non-deterministic orchestrator '${this.info.name}': task ${event.taskId} was ${DESCRIBE[expected]} ` +
          `'${expectedName}' in history, but the code now schedules ${DESCRIBE[action.kind]} '${actualName}'.`,
      );
    }
    this.unconfirmed.delete(event.taskId);
  }

  private complete(event: CompletionEvent, recorded: boolean): boolean {
    const task = this.open.get(event.taskId);
    if (task === undefined) {
      if (this.closed.has(event.taskId)) {
        if (recorded) throw new NonDeterminismError(`history completes task ${event.taskId} twice`);
        return false; // a duplicate delivery: already recorded once
      }
      if (recorded) {
        throw new NonDeterminismError(
          `Non-deterministic orchestrator '${this.info.name}': history completes task ${event.taskId}, ` +
            'which the code never scheduled.',
        );
      }
      return false;
    }
    this.open.delete(event.taskId);
    this.closed.add(event.taskId);
    switch (event.type) {
      case 'TaskCompleted':
      case 'SubOrchestrationInstanceCompleted':
        task.settle(fromJson(event.payload));
        break;
      case 'TaskFailed':
        task.executions = event.attempts ?? 1;
        task.failWith(event.failure);
        break;
      case 'SubOrchestrationInstanceFailed':
        task.failWith(event.failure);
        break;
      case 'TimerFired':
        task.settle(undefined);
        break;
    }
    this.drive();
    return true;
  }

  private raise(event: EventOf<'EventRaised'>): void {
    const key = event.name.toLowerCase();
    const waiting = this.waiters.get(key);
    const task = waiting?.shift();
    if (task === undefined) {
      const queue = this.buffered.get(key) ?? [];
      queue.push({ event, seq: this.arrivals++ });
      this.buffered.set(key, queue);
      return;
    }
    task.settle(fromJson(event.payload));
    this.drive();
  }

  /** Resumes the generator for as long as the task it waits on has completed. */
  private drive(): void {
    const generator = this.generator;
    if (generator === undefined || this.completion !== undefined) return;
    for (;;) {
      let step: IteratorResult<Task, unknown>;
      const waiting = this.waitingOn;
      try {
        if (waiting === undefined) {
          if (this.nextStepStarted) return;
          this.nextStepStarted = true;
          step = generator.next();
        } else {
          if (!waiting.isCompleted) return;
          this.waitingOn = undefined;
          step = waiting.isFaulted ? generator.throw(waiting.exception) : generator.next(waiting.result);
        }
      } catch (err) {
        if (err instanceof NonDeterminismError) throw err;
        this.finish({ status: 'Failed', failure: this.limitFailure ?? toFailure(err) });
        return;
      }
      if (this.limitFailure !== undefined) {
        // The code caught the limit's error and went on: the execution still ends with it.
        this.finish({ status: 'Failed', failure: this.limitFailure });
        return;
      }
      if (step.done) {
        if (this.continueAsNewInput !== undefined) {
          this.finish({ status: 'ContinuedAsNew', input: this.continueAsNewInput.input, carryOver: this.unconsumedEvents() });
        } else {
          let output: string | undefined;
          try {
            output = toJson(step.value);
          } catch (err) {
            this.finish({ status: 'Failed', failure: toFailure(err) });
            return;
          }
          this.finish({ status: 'Completed', output });
        }
        return;
      }
      if (!(step.value instanceof Task)) {
        this.finish({
          status: 'Failed',
          failure: toFailure(new TypeError(`orchestrator '${this.info.name}' yielded something that is not a task; yield the result of a context.df call`)),
        });
        return;
      }
      this.waitingOn = step.value;
    }
  }

  private nextStepStarted = false;

  private finish(completion: Completion): void {
    this.completion = completion;
  }

  private unconsumedEvents(): EventOf<'EventRaised'>[] {
    // In arrival order across names, as they would have reached the next execution.
    return [...this.buffered.values()]
      .flat()
      .sort((x, y) => x.seq - y.seq)
      .map((b) => b.event);
  }

  /** Throws (into the orchestrator) when one more action, or this payload, crosses a limit. */
  private admit(payload: string | undefined, what: string): void {
    const limits = this.limits;
    if (limits === undefined || this.replaying) return;
    let failure: FailureDetails | undefined = this.limitFailure;
    if (failure === undefined && this.open.size + 1 > limits.maxPendingTasks) {
      failure = {
        type: 'PendingTasksLimitExceeded',
        message: `the orchestration scheduled more than ${limits.maxPendingTasks} tasks pending at once, the limit (TASKHUB_MAX_PENDING_TASKS); fan out in smaller waves or raise the limit`,
      };
    }
    // Each action becomes one history event, besides the turn's own start event.
    const events = this.recordedEvents + this.unconfirmed.size + 2;
    if (failure === undefined && events > limits.maxHistoryEvents) {
      failure = {
        type: 'HistoryLimitExceeded',
        message: `history would grow past ${limits.maxHistoryEvents} events, the limit (TASKHUB_MAX_HISTORY_EVENTS); use continueAsNew for long-running loops`,
      };
    }
    // At most 3 bytes per UTF-16 unit: a short text cannot be over the limit, and is not measured.
    const bytes = payload === undefined || payload.length * 3 <= limits.maxPayloadBytes ? 0 : utf8Length(payload);
    if (failure === undefined && bytes > limits.maxPayloadBytes) {
      failure = {
        type: 'PayloadLimitExceeded',
        message: `${what} is ${bytes} bytes of JSON, over the limit of ${limits.maxPayloadBytes} (TASKHUB_MAX_PAYLOAD_BYTES)`,
      };
    }
    if (failure === undefined) return;
    this.limitFailure ??= failure;
    throw new LimitExceededError(failure);
  }

  private admitPayload(payload: string | undefined, what: string): void {
    const limits = this.limits;
    if (limits === undefined || this.replaying || payload === undefined || payload.length * 3 <= limits.maxPayloadBytes) return;
    const bytes = utf8Length(payload);
    if (bytes <= limits.maxPayloadBytes) return;
    const failure = { type: 'PayloadLimitExceeded', message: `${what} is ${bytes} bytes of JSON, over the limit of ${limits.maxPayloadBytes} (TASKHUB_MAX_PAYLOAD_BYTES)` };
    this.limitFailure ??= failure;
    throw new LimitExceededError(failure);
  }

  private newAction(make: (taskId: number) => Action): number {
    const taskId = this.nextTaskId++;
    this.unconfirmed.set(taskId, make(taskId));
    return taskId;
  }

  private scheduleActivity<T>(name: string, input: unknown, retryOf?: RetryOf): AtomicTask<T> {
    const payload = toJson(input);
    this.admit(payload, name === HTTP_ACTIVITY ? `the callHttp request (the input of ${HTTP_ACTIVITY})` : `the input of activity '${name}'`);
    const id = this.newAction((taskId) => ({ kind: 'ScheduleTask', taskId, name, input: payload }));
    if (retryOf !== undefined) this.retries.set(id, retryOf);
    const task = new AtomicTask<T>(id, 'ScheduleTask', name);
    this.open.set(id, task as AtomicTask);
    return task;
  }

  private createTimer(fireAt: Date): TimerTask {
    if (!(fireAt instanceof Date) || Number.isNaN(fireAt.getTime())) throw new TypeError('createTimer needs a valid Date');
    const at = fireAt.getTime();
    if (at < EARLIEST_TIMER.getTime() || at > LATEST_TIMER.getTime()) throw new TimerOutOfRangeError(fireAt, EARLIEST_TIMER, LATEST_TIMER);
    this.admit(undefined, 'a timer');
    const id = this.newAction((taskId) => ({ kind: 'CreateTimer', taskId, fireAt: fireAt.toISOString() }));
    const task = new TimerTask(id, fireAt);
    this.open.set(id, task);
    return task;
  }

  private startSubOrchestration<T>(name: string, input: unknown, instanceId: string | undefined): AtomicTask<T> {
    const payload = toJson(input);
    this.admit(payload, `the input of sub-orchestration '${name}'`);
    const id = this.newAction((taskId) => ({
      kind: 'CreateSubOrchestration',
      taskId,
      name,
      instanceId: instanceId ?? `${this.info.instanceId}:${taskId}`,
      input: payload,
    }));
    const task = new AtomicTask<T>(id, 'CreateSubOrchestration', name);
    this.open.set(id, task as AtomicTask);
    return task;
  }

  private retrying<T>(first: () => AtomicTask, options: RetryOptions): Task<T> {
    const scheduler: RetryScheduler = {
      now: () => this.now,
      createTimer: (fireAt) => this.createTimer(fireAt),
      again: first,
    };
    const task = new RetryableTask<T>(first(), options, scheduler);
    task.initialize();
    return task;
  }

  /** callHttp: the built-in HTTP activity, polled behind durable timers while it answers 202 (core/http.ts). */
  private callHttp(options: CallHttpOptions): CallHttpTask {
    const { request, polling, timeoutMs } = httpRequest(options);
    const task = new CallHttpTask(request, polling, timeoutMs, {
      now: () => this.now,
      request: (req) => this.scheduleActivity(HTTP_ACTIVITY, req),
      createTimer: (fireAt) => this.createTimer(fireAt),
    });
    task.initialize();
    return task;
  }

  private waitForEvent<T>(name: string): EventTask<T> {
    const task = new EventTask<T>(name);
    const key = name.toLowerCase();
    const queue = this.buffered.get(key);
    const event = queue?.shift()?.event;
    if (event !== undefined) {
      task.settle(fromJson(event.payload) as T);
    } else {
      const waiting = this.waiters.get(key) ?? [];
      waiting.push(task as EventTask);
      this.waiters.set(key, waiting);
    }
    return task;
  }

  private makeContext(): OrchestrationContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const df: DurableOrchestrationContext = {
      instanceId: this.info.instanceId,
      parentInstanceId: this.info.parentInstanceId,
      get isReplaying() {
        return self.replaying;
      },
      get currentUtcDateTime() {
        return new Date(self.now.getTime());
      },
      getInput: <T>() => fromJson(self.input) as T,
      callActivity: (name, input) => self.scheduleActivity(name, input),
      callActivityWithRetry: (name, options, input) => {
        // One logical call: every retry carries the first attempt's task id (the activity's
        // idempotency key) and how many times the call ran before (its attempt number).
        const attempts: AtomicTask[] = [];
        return self.retrying(() => {
          const first = attempts[0];
          const retryOf =
            first === undefined ? undefined : { callTaskId: first.id, priorAttempts: attempts.reduce((n, t) => n + (t.executions ?? 1), 0) };
          const task = self.scheduleActivity(name, input, retryOf);
          attempts.push(task);
          return task;
        }, options);
      },
      callSubOrchestrator: (name, input, instanceId) => self.startSubOrchestration(name, input, instanceId),
      callSubOrchestratorWithRetry: (name, options, input, instanceId) =>
        // Each retry needs a fresh child id unless the caller fixed one (then the terminal child is replaced).
        self.retrying(() => self.startSubOrchestration(name, input, instanceId), options),
      createTimer: (fireAt) => self.createTimer(fireAt),
      waitForExternalEvent: (name) => self.waitForEvent(name),
      callHttp: (options) => self.callHttp(options),
      continueAsNew: (input) => {
        const payload = toJson(input);
        self.admitPayload(payload, 'the continueAsNew input');
        self.continueAsNewInput = { input: payload };
      },
      setCustomStatus: (value) => {
        const payload = toJson(value);
        self.admitPayload(payload, 'the custom status');
        self.customStatus = payload;
      },
      newGuid: () => uuidv5(`${self.info.instanceId}_${self.now.toISOString()}_${self.guidCounter++}`, GUID_NAMESPACE),
      Task: {
        all: <T>(tasks: Task<T>[]) => {
          const task = new WhenAllTask<T>(tasks as Task[]);
          task.initialize();
          return task;
        },
        any: (tasks: Task[]) => {
          const task = new WhenAnyTask(tasks);
          task.initialize();
          return task;
        },
      },
    };
    return {
      df,
      log: (message, fields) => {
        if (!self.replaying) self.logs.push({ message, fields });
      },
    };
  }
}

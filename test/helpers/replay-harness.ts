/**
 * A pure test harness for the replay executor: simulates the turns the runner would run, with no
 * database, no clock and no queue. It keeps the execution's history, feeds each turn's new events
 * to the executor exactly as `runner.ts` does (OrchestratorStarted, ExecutionStarted on the first
 * turn, then the delivered messages), and records each turn through the runner's own decide()
 * (src/orchestrator/core/decide.ts): the same history events and the same closing ExecutionCompleted.
 *
 * Two ways to keep the executor, as the runner can:
 * - 'incremental': one executor lives across turns; `confirmActions()` after each recorded turn
 *   (what the runner's executor cache does);
 * - 'scratch': a new executor replays the whole history at every turn.
 * With `crossCheck`, every incremental turn is also computed from scratch and the two must agree.
 *
 * Time is fixed: turn n happens at `start + n * stepMs`, or later when a delivered timer is due
 * later, or at an explicit `at`.
 */
import assert from 'node:assert/strict';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import type { EventOf, FailureDetails, HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { toJson } from '../../src/orchestrator/core/history.ts';
import { decide } from '../../src/orchestrator/core/decide.ts';
import { type Action, type Completion, Executor, type TurnResult } from '../../src/orchestrator/core/executor.ts';

export const T0 = '2024-01-01T00:00:00.000Z';

/** The execution id of the harness's turns (names timer messages; never recorded in history). */
const HARNESS_EXECUTION_ID = '00000000-0000-0000-0000-000000000001';

/** The instance id the golden histories (test/fixtures/golden) are recorded and replayed under. */
export const GOLDEN_INSTANCE_ID = 'golden-instance';

export interface HarnessOptions {
  instanceId?: string;
  name?: string;
  input?: unknown;
  parentInstanceId?: string;
  mode?: 'incremental' | 'scratch';
  /** Incremental mode: also compute each turn from scratch and assert both give the same answer. */
  crossCheck?: boolean;
  /** ISO time of the first turn. */
  start?: string;
  /** Time between turns, in milliseconds. */
  stepMs?: number;
  /** A history recorded before (continue from it instead of starting the execution). */
  history?: HistoryEvent[];
}

export interface TurnOutcome {
  at: string;
  newEvents: HistoryEvent[];
  accepted: HistoryEvent[];
  result: TurnResult;
  logs: string[];
  /** Events recorded by this turn (nothing when nothing happened, as the runner does). */
  recorded: HistoryEvent[];
}

/** The action a recorded scheduling event stands for (the inverse of what decide() records for it). */
export function eventToAction(event: HistoryEvent): Action | undefined {
  switch (event.type) {
    case 'TaskScheduled':
      return { kind: 'ScheduleTask', taskId: event.taskId, name: event.name, input: event.payload };
    case 'TimerCreated':
      return { kind: 'CreateTimer', taskId: event.taskId, fireAt: event.fireAt };
    case 'SubOrchestrationInstanceCreated':
      return { kind: 'CreateSubOrchestration', taskId: event.taskId, name: event.name, instanceId: event.instanceId, input: event.payload };
    case 'EventSent':
      return event.signal ? undefined : { kind: 'CallEntity', taskId: event.taskId, name: event.name, entityId: event.instanceId, input: event.payload };
    default:
      return undefined;
  }
}

/** The completion a recorded ExecutionCompleted event stands for. */
export function recordedCompletion(event: EventOf<'ExecutionCompleted'>): Completion {
  if (event.status === 'Failed') {
    assert.ok(event.failure, 'a Failed ExecutionCompleted carries its failure');
    return { status: 'Failed', failure: event.failure };
  }
  if (event.status === 'Completed') return { status: 'Completed', output: event.payload };
  throw new Error('ContinuedAsNew is not recorded as ExecutionCompleted by the runner');
}

/** Splits a history into turns: each starts at an OrchestratorStarted event. */
export function splitTurns(history: readonly HistoryEvent[]): HistoryEvent[][] {
  const turns: HistoryEvent[][] = [];
  for (const event of history) {
    if (event.type === 'OrchestratorStarted' || turns.length === 0) turns.push([]);
    turns[turns.length - 1]?.push(event);
  }
  return turns;
}

export class ReplayHarness {
  readonly fn: Orchestrator;
  readonly instanceId: string;
  readonly name: string;
  readonly history: HistoryEvent[];
  /** Actions recorded and not completed yet, by task id. */
  readonly pending = new Map<number, Action>();
  completion: Completion | undefined;
  private readonly options: HarnessOptions;
  private executor: Executor | undefined;
  private turns = 0;
  private lastAt: number;

  constructor(fn: Orchestrator, options: HarnessOptions = {}) {
    this.fn = fn;
    this.options = options;
    this.instanceId = options.instanceId ?? 'instance-1';
    this.name = options.name ?? 'TestOrchestration';
    this.history = [...(options.history ?? [])];
    this.lastAt = Date.parse(options.start ?? T0) - this.step;
    for (const event of this.history) {
      if (event.type === 'OrchestratorStarted') {
        this.turns++;
        this.lastAt = Date.parse(event.timestamp);
      }
      const action = eventToAction(event);
      if (action) this.pending.set(action.taskId, action);
      if ('taskId' in event && event.taskId !== undefined && action === undefined) this.pending.delete(event.taskId);
    }
  }

  private get step(): number {
    return this.options.stepMs ?? 1000;
  }

  /** The time the next turn will have, unless a due timer or an explicit `at` says later. */
  get nextAt(): string {
    return new Date(this.lastAt + this.step).toISOString();
  }

  private newExecutor(): Executor {
    return new Executor(this.fn, { instanceId: this.instanceId, name: this.name, parentInstanceId: this.options.parentInstanceId });
  }

  private fromScratch(): Executor {
    const executor = this.newExecutor();
    executor.replay(this.history);
    return executor;
  }

  /** Runs one turn with these messages delivered. The first turn starts the execution. */
  turn(messages: HistoryEvent[] = [], options: { at?: string } = {}): TurnOutcome {
    if (this.completion !== undefined) throw new Error('the execution has ended');
    const dueTimers = messages.flatMap((m) => (m.type === 'TimerFired' ? [Date.parse(m.fireAt)] : []));
    const atMs = options.at !== undefined ? Date.parse(options.at) : Math.max(this.lastAt + this.step, ...dueTimers);
    const at = new Date(atMs).toISOString();
    const fresh = this.history.length === 0;
    const newEvents: HistoryEvent[] = [{ type: 'OrchestratorStarted', timestamp: at }];
    if (fresh) {
      newEvents.push({
        type: 'ExecutionStarted',
        name: this.name,
        timestamp: at,
        payload: toJson(this.options.input),
        parentInstanceId: this.options.parentInstanceId,
      });
    }
    newEvents.push(...messages);

    const incremental = this.options.mode !== 'scratch';
    const executor = incremental && this.executor !== undefined && !fresh ? this.executor : this.fromScratch();
    const checker = incremental && this.options.crossCheck ? this.fromScratch() : undefined;
    const { accepted, result } = executor.apply(newEvents);
    const logs = executor.takeLogs().map((l) => l.message);
    if (checker) {
      const other = checker.apply(newEvents);
      assert.deepEqual(
        withoutStacks(other),
        withoutStacks({ accepted, result }),
        `turn ${this.turns}: incremental and from-scratch replay disagree`,
      );
      assert.deepEqual(checker.takeLogs().map((l) => l.message), logs, `turn ${this.turns}: logs differ`);
    }

    this.turns++;
    this.lastAt = atMs;
    const recorded = this.record(accepted, result, at, executor.openTasks);
    if (recorded.length === 0 || result.completion !== undefined) {
      this.executor = undefined; // the runner does not keep an executor whose turn recorded nothing
    } else {
      executor.confirmActions();
      this.executor = executor;
    }
    return { at, newEvents, accepted, result, logs, recorded };
  }

  /**
   * Records a turn as the runner does, through the same decide(); returns the events appended.
   * Job ids are fixed (`job-<taskId>`): the runner's are random, and nothing in replay reads them.
   */
  private record(accepted: HistoryEvent[], result: TurnResult, at: string, openTasks: number): HistoryEvent[] {
    const facts = {
      instanceId: this.instanceId,
      executionId: HARNESS_EXECUTION_ID,
      name: this.name,
      historyLength: this.history.length,
      now: at,
      openTasks,
      limits: { maxHistoryEvents: Number.POSITIVE_INFINITY, maxPendingTasks: Number.POSITIVE_INFINITY },
    };
    const decision = decide(facts, accepted, result, { jobId: (taskId) => `job-${taskId}` });
    if (decision.kind === 'idle') return []; // nothing happened: the runner records nothing
    if (decision.kind === 'fail') throw new Error(`the harness has no limits, yet decide() failed the turn: ${decision.failure.message}`);
    for (const event of accepted) if ('taskId' in event && event.taskId !== undefined) this.pending.delete(event.taskId);
    for (const action of result.actions) this.pending.set(action.taskId, action);
    if (decision.kind !== 'continue') this.completion = result.completion;
    // A continued execution's history is dropped by the runner; a new one starts.
    if (decision.kind === 'continueAsNew') return decision.events;
    this.history.push(...decision.events);
    return decision.events;
  }

  /** The one pending action of this kind (and name), asserting there is exactly one. */
  only(kind: Action['kind'], name?: string): Action {
    const found = this.all(kind, name);
    assert.equal(found.length, 1, `expected one pending ${kind}${name ? ` '${name}'` : ''}, found ${found.length}`);
    return found[0] as Action;
  }

  all(kind: Action['kind'], name?: string): Action[] {
    return [...this.pending.values()].filter((a) => a.kind === kind && (name === undefined || ('name' in a && a.name === name)));
  }

  // Messages, as the runner delivers them into the inbox.

  completed(taskId: number, value?: unknown): HistoryEvent {
    return { type: 'TaskCompleted', taskId, timestamp: this.nextAt, payload: toJson(value) };
  }

  failed(taskId: number, failure: FailureDetails): HistoryEvent {
    return { type: 'TaskFailed', taskId, timestamp: this.nextAt, failure };
  }

  /** A timer's firing; stamped with its fire time, as the runner's timer message is. */
  fired(taskId: number): HistoryEvent {
    const action = this.pending.get(taskId) ?? this.timerInHistory(taskId);
    assert.ok(action?.kind === 'CreateTimer', `task ${taskId} is not a timer`);
    return { type: 'TimerFired', taskId, fireAt: action.fireAt, timestamp: action.fireAt };
  }

  subCompleted(taskId: number, value?: unknown): HistoryEvent {
    return { type: 'SubOrchestrationInstanceCompleted', taskId, timestamp: this.nextAt, payload: toJson(value) };
  }

  subFailed(taskId: number, failure: FailureDetails): HistoryEvent {
    return { type: 'SubOrchestrationInstanceFailed', taskId, timestamp: this.nextAt, failure };
  }

  raised(name: string, value?: unknown): HistoryEvent {
    return { type: 'EventRaised', name, timestamp: this.nextAt, payload: toJson(value) };
  }

  private timerInHistory(taskId: number): Action | undefined {
    const event = this.history.find((e) => e.type === 'TimerCreated' && e.taskId === taskId);
    return event ? eventToAction(event) : undefined;
  }
}

/**
 * A copy of a value with stack traces in failure details replaced by a marker: the same failure
 * thrown from an incremental and a from-scratch run has a different call stack.
 */
export function withoutStacks<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutStacks) as T;
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    copy[key] = key === 'details' && typeof v === 'string' && /\n\s+at /.test(v) ? '(stack trace)' : withoutStacks(v);
  }
  return copy as T;
}

/** Parses a JSON payload the executor produced. */
export function parse(text: string | undefined): unknown {
  return text === undefined ? undefined : JSON.parse(text);
}

/** The parsed output of a turn that completed the execution (asserts that it did). */
export function outputOf(outcome: TurnOutcome | Completion | undefined): unknown {
  const completion = outcome !== undefined && 'result' in outcome ? outcome.result.completion : outcome;
  assert.equal(completion?.status, 'Completed', `expected Completed, got ${JSON.stringify(completion)}`);
  return parse((completion as Extract<Completion, { status: 'Completed' }>).output);
}

/** The failure of a turn that failed the execution (asserts that it did). */
export function failureOf(outcome: TurnOutcome): Extract<Completion, { status: 'Failed' }>['failure'] {
  const completion = outcome.result.completion;
  assert.equal(completion?.status, 'Failed', `expected Failed, got ${JSON.stringify(completion)}`);
  return (completion as Extract<Completion, { status: 'Failed' }>).failure;
}

/** A small seeded PRNG (mulberry32): drivers vary delivery order reproducibly. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface AutoPilot {
  /** Activity implementations; throwing fails the task (`attempt` counts calls with the same name and input, from 1). */
  activities?: Record<string, (input: unknown, attempt: number) => unknown>;
  /** Sub-orchestration outcomes, by name; throwing fails the task. */
  children?: Record<string, (input: unknown, attempt: number) => unknown>;
  /** External events to raise, in this order, at turns the seed picks. */
  events?: Array<[name: string, value: unknown]>;
  seed: number;
}

/**
 * Returns a driver that, each turn, delivers a random (seeded) subset of what is pending, in a
 * random order: activity results, timer firings (cancelled timers fire too, late), sub-orchestration
 * results, the next external event now and then, and sometimes a duplicate of an earlier delivery.
 * Returns undefined when there is nothing left to deliver.
 */
export function autoPilot(pilot: AutoPilot): (h: ReplayHarness) => HistoryEvent[] | undefined {
  const random = seeded(pilot.seed);
  const events = [...(pilot.events ?? [])];
  const attempts = new Map<string, number>();
  const delivered: HistoryEvent[] = [];
  const outcome = (
    impls: Record<string, (input: unknown, attempt: number) => unknown> | undefined,
    name: string,
    input: string | undefined,
  ): { value: unknown } | { failure: FailureDetails } => {
    const key = `${name}:${input}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const impl = impls?.[name];
    assert.ok(impl, `the autopilot has no implementation of '${name}'`);
    try {
      return { value: impl(parse(input), attempt) };
    } catch (err) {
      const e = err as Error & { nonRetryable?: boolean };
      return { failure: { type: e.name, message: e.message, nonRetryable: e.nonRetryable } };
    }
  };
  return (h) => {
    const pending = [...h.pending.values()];
    for (let i = pending.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [pending[i], pending[j]] = [pending[j] as Action, pending[i] as Action];
    }
    const take = pending.length === 0 ? 0 : 1 + Math.floor(random() * pending.length);
    const messages: HistoryEvent[] = pending.slice(0, take).flatMap((action): HistoryEvent[] => {
      switch (action.kind) {
        case 'CreateTimer':
          return [h.fired(action.taskId)];
        case 'ScheduleTask': {
          const result = outcome(pilot.activities, action.name, action.input);
          return ['value' in result ? h.completed(action.taskId, result.value) : h.failed(action.taskId, result.failure)];
        }
        case 'CreateSubOrchestration': {
          const result = outcome(pilot.children, action.name, action.input);
          return ['value' in result ? h.subCompleted(action.taskId, result.value) : h.subFailed(action.taskId, result.failure)];
        }
        case 'CallEntity':
          return [{ type: 'EventRaised', name: action.name, taskId: action.taskId, timestamp: T0, payload: JSON.stringify({ result: action.input ?? 'null' }) }];
        case 'SignalEntity':
          return [];
      }
    });
    if (events.length > 0 && (messages.length === 0 || random() < 0.4)) {
      const [name, value] = events.shift() as [string, unknown];
      messages.splice(Math.floor(random() * (messages.length + 1)), 0, h.raised(name, value));
    }
    if (delivered.length > 0 && random() < 0.25) {
      const again = delivered[Math.floor(random() * delivered.length)] as HistoryEvent;
      if (again.type !== 'EventRaised') messages.push({ ...again }); // a duplicate delivery of a result
    }
    delivered.push(...messages);
    return messages.length === 0 ? undefined : messages;
  };
}

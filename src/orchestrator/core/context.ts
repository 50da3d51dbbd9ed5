/**
 * The API an orchestrator sees, shaped like durable-functions v3 for JavaScript so that a Durable
 * Functions orchestrator ports by changing its imports: `context.df.callActivity(…)` and friends.
 * Pure: everything here is answered from the executor's replayed state.
 */
import type { CallHttpOptions, DurableHttpResponse } from './http.ts';
import type { AtomicTask, EventTask, RetryOptions, Task, TimerTask, WhenAllTask, WhenAnyTask } from './tasks.ts';

export interface DurableOrchestrationContext {
  readonly instanceId: string;
  readonly parentInstanceId: string | undefined;
  /** True while the code runs again over recorded history; use it to keep logs from repeating. */
  readonly isReplaying: boolean;
  /** The recorded time of the current turn: the same on every replay. Never use `new Date()`. */
  readonly currentUtcDateTime: Date;
  getInput<T = unknown>(): T;
  callActivity<T = unknown>(name: string, input?: unknown): AtomicTask<T>;
  callActivityWithRetry<T = unknown>(name: string, retryOptions: RetryOptions, input?: unknown): Task<T>;
  callSubOrchestrator<T = unknown>(name: string, input?: unknown, instanceId?: string): AtomicTask<T>;
  callSubOrchestratorWithRetry<T = unknown>(
    name: string,
    retryOptions: RetryOptions,
    input?: unknown,
    instanceId?: string,
  ): Task<T>;
  createTimer(fireAt: Date): TimerTask;
  /**
   * A durable HTTP request (the built-in activity BuiltIn::HttpActivity): resolves to the response,
   * whatever its status; a 202 with a Location is polled behind durable timers unless
   * `enablePolling: false`. A failed request (network, timeout, size limit) fails the task.
   */
  callHttp(options: CallHttpOptions): Task<DurableHttpResponse>;
  waitForExternalEvent<T = unknown>(name: string): EventTask<T>;
  /** Ends this execution and starts a new one of the same instance with a fresh history. Return right after. */
  continueAsNew(input?: unknown): void;
  setCustomStatus(value: unknown): void;
  /** A deterministic UUID: the same on every replay. */
  newGuid(): string;
  readonly Task: {
    all<T = unknown>(tasks: Task<T>[]): WhenAllTask<T>;
    any(tasks: Task[]): WhenAnyTask;
  };
}

export interface OrchestrationContext {
  readonly df: DurableOrchestrationContext;
  /** Logs only when not replaying, so each line appears once. */
  log(message: string, fields?: Record<string, unknown>): void;
}

/** An orchestrator: a generator function that yields tasks and returns the output. */
export type Orchestrator<TOut = unknown> = (context: OrchestrationContext) => Generator<Task, TOut, any>;

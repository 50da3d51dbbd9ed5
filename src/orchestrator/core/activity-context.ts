/** What an activity function sees: the types of the activity API (pure; the worker in src/activities/ fills them in). */

export type LogMethod = (...args: unknown[]) => void;

/**
 * The InvocationContext members of Azure Functions, so that an activity written for
 * durable-functions v3 runs unchanged (src/activities/invocation.ts fills them in).
 */
export interface InvocationFields {
  /** A new id for each run of the activity (each delivery and each retry), as the Functions host gives one per invocation. */
  readonly invocationId: string;
  /** The registered activity name. */
  readonly functionName: string;
  /** Logs at info, like console.log (printf-style formatting). */
  readonly log: LogMethod;
  readonly trace: LogMethod;
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
}

/**
 * The scheduled task this attempt runs: the same on every redelivery of its job. Each retry that
 * `callActivityWithRetry` makes is a task of its own (a new sequence number); the identity of the
 * whole call, across its retries, is `idempotencyKey`.
 */
export interface ActivityTaskId {
  instanceId: string;
  executionId: string;
  /** The task's sequence number among the orchestration's actions. */
  taskId: number;
}

/**
 * Also the InvocationContext fields of Azure Functions (`log`, `info`, `warn`, `error`, `debug`,
 * `trace`, `invocationId`, `functionName`), so that activities written for durable-functions run
 * unchanged.
 */
export interface ActivityContext extends InvocationFields {
  readonly instanceId: string;
  readonly name: string;
  readonly task: ActivityTaskId;
  /**
   * `${instanceId}:${executionId}:${first}`, where `first` is the task id of the call's first
   * attempt: a ready-made idempotency key for side effects, stable across redeliveries (a crashed
   * worker's job run again) and across the retries of one `callActivityWithRetry` call. Two separate
   * calls get different keys.
   */
  readonly idempotencyKey: string;
  /**
   * How many times this logical call ran before, starting at 0: earlier policy retries
   * (`callActivityWithRetry`) and redeliveries (a crashed worker, a lost heartbeat) both count.
   */
  readonly attempt: number;
  /**
   * Aborted when the instance is terminated, the attempt runs past its timeout (reason: an
   * `ActivityTimeout` error), the job's claim is lost, or the worker shuts down. An activity that
   * ignores it is abandoned at its timeout: it keeps running, but its result is dropped.
   */
  readonly signal: AbortSignal;
}

export type ActivityFunction<I = any, O = unknown> = (input: I, context: ActivityContext) => Promise<O> | O;

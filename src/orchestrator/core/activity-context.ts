/** What an activity function sees: the types of the activity API (pure; the worker in src/activities/ fills them in). */

/** A stable identity of one scheduled activity call: the same on every retry and redelivery. */
export interface ActivityTaskId {
  instanceId: string;
  executionId: string;
  /** The task's sequence number among the orchestration's actions. */
  taskId: number;
}

export interface ActivityContext {
  readonly instanceId: string;
  readonly name: string;
  readonly task: ActivityTaskId;
  /** `${instanceId}:${executionId}:${taskId}`: a ready-made idempotency key for side effects. */
  readonly idempotencyKey: string;
  /** How many times this job was delivered before (crash recovery), starting at 0. */
  readonly attempt: number;
  /** Aborted when the instance is terminated or the worker shuts down. */
  readonly signal: AbortSignal;
}

export type ActivityFunction<I = any, O = unknown> = (input: I, context: ActivityContext) => Promise<O> | O;

/**
 * Inbox message ids. A message's id makes a second delivery of it a no-op (the inbox's primary key
 * with ON CONFLICT DO NOTHING), so the id of a result must be the same every time that result is
 * produced: an activity redelivered after a crash, a child that reports twice, a timer set again by
 * a replayed turn. Results are keyed by execution and task id; raised events are each unique.
 */

/** The result of an activity job (TaskCompleted / TaskFailed). */
export function taskResultId(executionId: string, taskId: number): string {
  return `task:${executionId}:${taskId}`;
}

/** A durable timer firing. */
export function timerId(executionId: string, taskId: number): string {
  return `timer:${executionId}:${taskId}`;
}

/** How a sub-orchestration ended (or that it could not start), for its parent's execution. */
export function subOrchestrationResultId(parentExecutionId: string, taskId: number): string {
  return `sub:${parentExecutionId}:${taskId}`;
}

/** A raised event (or one carried over by continue-as-new): every one is new; `unique` is a fresh UUID. */
export function eventMessageId(unique: string): string {
  return `event:${unique}`;
}

/** An operation an orchestration sends to an entity (callEntity or signalEntity), per execution and task. */
export function entityRequestId(executionId: string, taskId: number): string {
  return `entity:${executionId}:${taskId}`;
}

/** An entity's answer to a callEntity, for the calling execution's task. */
export function entityResponseId(executionId: string, taskId: number): string {
  return `entity-response:${executionId}:${taskId}`;
}

/** A signal from a client or from another entity: each is new; `unique` is a fresh UUID. */
export function signalMessageId(unique: string): string {
  return `signal:${unique}`;
}

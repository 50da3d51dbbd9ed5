/** Errors an orchestrator can catch, and the errors replay raises. Pure. */
import type { FailureDetails } from './history.ts';

/** Thrown into an orchestrator when an activity or sub-orchestration it awaited failed. */
export class TaskFailedError extends Error {
  readonly failure: FailureDetails;
  readonly taskName: string;
  constructor(taskName: string, failure: FailureDetails, kind: 'Activity' | 'Orchestrator' = 'Activity') {
    super(`${kind} function '${taskName}' failed: ${failure.message}`);
    this.name = 'TaskFailedError';
    this.failure = failure;
    this.taskName = taskName;
  }
}

/** The code no longer matches the recorded history (it changed under a running instance). */
export class NonDeterminismError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonDeterminismError';
  }
}

/** An error that an activity can throw to say that retrying cannot help. */
export class NonRetryableError extends Error {
  readonly nonRetryable = true;
  constructor(message: string) {
    super(message);
    this.name = 'NonRetryableError';
  }
}

/** The output text Durable Functions shows for a failed orchestration. */
export function failureOutput(name: string, failure: FailureDetails): string {
  return JSON.stringify(`Orchestrator function '${name}' failed: ${failure.message}`);
}

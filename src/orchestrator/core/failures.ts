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

/**
 * Thrown by createTimer for a fire time the database cannot store (timestamps are written as ISO
 * text: years 0001 to 9999). Raised where the orchestrator creates the timer, so that an uncaught
 * one fails the instance in that turn with this type, instead of failing the turn's commit with
 * SQLSTATE 22009 on every retry until quarantine.
 */
export class TimerOutOfRangeError extends RangeError {
  constructor(fireAt: Date, earliest: Date, latest: Date) {
    const shown = Number.isNaN(fireAt.getTime()) ? 'an invalid date' : fireAt.toISOString();
    super(`createTimer: the fire time ${shown} is outside the range a durable timer can be stored in (${earliest.toISOString()} to ${latest.toISOString()})`);
    this.name = 'TimerOutOfRange';
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

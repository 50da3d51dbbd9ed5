/**
 * History events: what the engine records for each execution of an orchestration, and what replay
 * reads back. User values (inputs, results) travel as JSON text in `payload`, exactly as produced,
 * so that nothing reorders or reformats them. Pure: no I/O.
 */

/** A failure as data: stored in history, rethrown into orchestrators as a typed error. */
export interface FailureDetails {
  type: string;
  message: string;
  details?: string | undefined;
  nonRetryable?: boolean | undefined;
}

interface Base {
  /** ISO-8601 time the event was recorded. */
  timestamp: string;
  /** JSON text of the user value the event carries, if any. */
  payload?: string | undefined;
}

export type HistoryEvent =
  | (Base & { type: 'OrchestratorStarted' })
  | (Base & { type: 'ExecutionStarted'; name: string; parentInstanceId?: string | undefined })
  | (Base & { type: 'TaskScheduled'; taskId: number; name: string; jobId: string })
  | (Base & { type: 'TaskCompleted'; taskId: number })
  | (Base & {
      type: 'TaskFailed';
      taskId: number;
      failure: FailureDetails;
      /** Deliveries of the failed job when more than one (redeliveries), for the next retry's attempt number. */
      attempts?: number | undefined;
    })
  | (Base & { type: 'TimerCreated'; taskId: number; fireAt: string })
  | (Base & { type: 'TimerFired'; taskId: number; fireAt: string })
  | (Base & { type: 'SubOrchestrationInstanceCreated'; taskId: number; name: string; instanceId: string })
  | (Base & { type: 'SubOrchestrationInstanceCompleted'; taskId: number })
  | (Base & { type: 'SubOrchestrationInstanceFailed'; taskId: number; failure: FailureDetails })
  | (Base & {
      type: 'EventRaised';
      name: string;
      /** Set on the answer to callEntity: the task it completes (payload: an EntityResponse). Unset for raised events. */
      taskId?: number | undefined;
    })
  /** An operation sent to an entity (callEntity: signal false; signalEntity: true), recorded as Durable Functions does. */
  | (Base & { type: 'EventSent'; taskId: number; instanceId: string; name: string; signal: boolean })
  /**
   * An entity's inbox message: one operation, in arrival order. `caller` is set for callEntity (the
   * response goes to that execution and task); payload is the input.
   */
  | (Base & { type: 'EntityOperation'; operation: string; caller?: { instanceId: string; executionId: string; taskId: number } | undefined })
  | (Base & { type: 'ExecutionSuspended'; reason?: string | undefined })
  | (Base & { type: 'ExecutionResumed'; reason?: string | undefined })
  | (Base & { type: 'ExecutionTerminated'; reason?: string | undefined })
  | (Base & { type: 'ExecutionRewound'; reason?: string | undefined })
  | (Base & {
      type: 'ExecutionCompleted';
      status: 'Completed' | 'Failed' | 'ContinuedAsNew';
      failure?: FailureDetails | undefined;
    });

export type HistoryEventType = HistoryEvent['type'];
export type EventOf<T extends HistoryEventType> = Extract<HistoryEvent, { type: T }>;

/** Events that carry the completion of a task the orchestrator is waiting on. */
export type CompletionEvent = EventOf<
  'TaskCompleted' | 'TaskFailed' | 'TimerFired' | 'SubOrchestrationInstanceCompleted' | 'SubOrchestrationInstanceFailed'
>;

/** JSON text of a value; `undefined` stays undefined (no payload). */
export function toJson(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

export function fromJson(text: string | undefined | null): unknown {
  return text === undefined || text === null ? undefined : JSON.parse(text);
}

/** Turns anything thrown into failure details. */
export function toFailure(err: unknown): FailureDetails {
  if (err instanceof Error) {
    const nonRetryable = (err as { nonRetryable?: unknown }).nonRetryable === true ? true : undefined;
    return { type: err.name || 'Error', message: err.message, details: err.stack, nonRetryable };
  }
  return { type: 'Error', message: typeof err === 'string' ? err : JSON.stringify(err) ?? String(err) };
}

/**
 * History events as Durable Functions shows them (`showHistory=true`): PascalCase keys, the event
 * type by name, a scheduled task merged into the row of its completion, the orchestrator's own
 * bookkeeping (OrchestratorStarted) left out. Pure.
 *
 * Ids are dropped where the extension drops them (DurableClient's history conversion removes
 * `EventId` from every event, `TaskScheduledId` from task and sub-orchestration completions and
 * `TimerId` from TimerFired): no row shows a task number. A task still pending shows `Name`, as
 * the extension does (the raw TaskScheduled event), and `FunctionName` as the completion rows do.
 */
import type { EventOf, FailureDetails, HistoryEvent } from '../orchestrator/core/history.ts';
import { raw } from './json.ts';

export interface HistoryViewOptions {
  /** Keep `Input` keys (the `showInput` query parameter). */
  showInput: boolean;
  /** Add `Result` keys (the `showHistoryOutput` query parameter). */
  showOutput: boolean;
  /**
   * Add failure details (stack traces). They name files of the service, so they are shown only on
   * request (`showHistoryOutput`) and never in a 5xx body.
   */
  showDetails: boolean;
}

export type HistoryRow = Record<string, unknown>;

type Scheduled = EventOf<'TaskScheduled'> | EventOf<'SubOrchestrationInstanceCreated'>;
type CompletionRowEvent = EventOf<'TaskCompleted' | 'TaskFailed' | 'SubOrchestrationInstanceCompleted' | 'SubOrchestrationInstanceFailed'>;

function failureRow(failure: FailureDetails, o: HistoryViewOptions): HistoryRow {
  return { Reason: failure.message, Details: o.showDetails ? (failure.details ?? null) : undefined };
}

function completionRow(event: CompletionRowEvent, scheduled: Scheduled | undefined, o: HistoryViewOptions): HistoryRow {
  const row: HistoryRow = {
    FunctionName: scheduled?.name,
    ScheduledTime: scheduled?.timestamp,
    InstanceId: scheduled?.type === 'SubOrchestrationInstanceCreated' ? scheduled.instanceId : undefined,
    Input: o.showInput && scheduled ? raw(scheduled.payload) : undefined,
  };
  if (event.type === 'TaskFailed' || event.type === 'SubOrchestrationInstanceFailed') return { ...row, ...failureRow(event.failure, o) };
  return { ...row, Result: o.showOutput ? raw(event.payload) : undefined };
}

function fields(event: HistoryEvent, scheduled: Map<string, Scheduled>, o: HistoryViewOptions): HistoryRow {
  const input = o.showInput ? raw(event.payload) : undefined;
  switch (event.type) {
    case 'ExecutionStarted':
      return { FunctionName: event.name, Input: input, ParentInstanceId: event.parentInstanceId };
    case 'TaskScheduled':
      return { Name: event.name, FunctionName: event.name, Input: input };
    case 'SubOrchestrationInstanceCreated':
      return { Name: event.name, FunctionName: event.name, InstanceId: event.instanceId, Input: input };
    case 'TaskCompleted':
    case 'TaskFailed':
      return completionRow(event, scheduled.get(`task:${event.taskId}`), o);
    case 'SubOrchestrationInstanceCompleted':
    case 'SubOrchestrationInstanceFailed':
      return completionRow(event, scheduled.get(`sub:${event.taskId}`), o);
    case 'TimerCreated':
    case 'TimerFired':
      return { FireAt: event.fireAt };
    case 'EventRaised':
      return { Name: event.name, Input: input };
    case 'ExecutionTerminated':
      return { Input: o.showInput ? (event.reason ?? null) : undefined };
    case 'ExecutionSuspended':
    case 'ExecutionResumed':
    case 'ExecutionRewound':
      return { Reason: event.reason ?? null };
    case 'ExecutionCompleted':
      return {
        OrchestrationStatus: event.status,
        Result: o.showOutput ? raw(event.payload) : undefined,
        FailureDetails: event.failure && {
          ErrorType: event.failure.type,
          ErrorMessage: event.failure.message,
          StackTrace: o.showDetails ? event.failure.details : undefined,
        },
      };
    default:
      return {};
  }
}

function completionKey(event: HistoryEvent): string | undefined {
  if (event.type === 'TaskCompleted' || event.type === 'TaskFailed') return `task:${event.taskId}`;
  if (event.type === 'SubOrchestrationInstanceCompleted' || event.type === 'SubOrchestrationInstanceFailed') return `sub:${event.taskId}`;
  return undefined;
}

function scheduleKey(event: HistoryEvent): string | undefined {
  if (event.type === 'TaskScheduled') return `task:${event.taskId}`;
  if (event.type === 'SubOrchestrationInstanceCreated') return `sub:${event.taskId}`;
  return undefined;
}

export function historyView(events: readonly HistoryEvent[], o: HistoryViewOptions): HistoryRow[] {
  const scheduled = new Map<string, Scheduled>();
  const completed = new Set<string>();
  for (const event of events) {
    const s = scheduleKey(event);
    if (s !== undefined) scheduled.set(s, event as Scheduled);
    const c = completionKey(event);
    if (c !== undefined) completed.add(c);
  }
  const rows: HistoryRow[] = [];
  for (const event of events) {
    if (event.type === 'OrchestratorStarted') continue;
    const s = scheduleKey(event);
    // A scheduled task that has completed is shown once, in its completion's row.
    if (s !== undefined && completed.has(s)) continue;
    rows.push({ EventType: event.type, Timestamp: event.timestamp, ...fields(event, scheduled, o) });
  }
  return rows;
}

/**
 * decide(): what a turn does, from what replay said. Given the events the executor accepted and
 * the actions and completion it returned, it computes every effect the turn must persist, and
 * nothing else: the history events (one per action, then the closing event), the activity jobs,
 * the durable timers (messages due later), the children to start, and how the execution goes on
 * (it continues, continues as new, ends, or fails a limit). Pure: ids for jobs come from the
 * caller, time is the turn's timestamp. The turn runner persists the decision; the replay test
 * harness records it, so both record exactly the same events.
 */
import type { Action, RetryOf, TurnResult } from './executor.ts';
import { failureOutput } from './failures.ts';
import type { EventOf, FailureDetails, HistoryEvent } from './history.ts';
import { entityRequestId, timerId } from './message-ids.ts';

/** What an activity job carries: which task of which execution to run, and with what. */
export interface ActivityJobData {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** JSON text of the input (undefined: no input). */
  input?: string | undefined;
  /** For a retry of callActivityWithRetry: the task id of the call's first attempt (its identity). */
  callTaskId?: number | undefined;
  /** For a retry: deliveries of the earlier attempts of the same call (policy retries and redeliveries). */
  priorAttempts?: number | undefined;
  /** W3C traceparent of the turn that scheduled it: the attempt's span continues that trace. */
  trace?: string | undefined;
}

export interface ActivityJob {
  /** The job's id, recorded in the TaskScheduled event (so that terminate can cancel it). */
  id: string;
  data: ActivityJobData;
}

/** A message for an instance's inbox. */
export interface Message {
  instanceId: string;
  messageId: string;
  /** The execution the message belongs to; undefined for raised events (any execution). */
  executionId: string | undefined;
  event: HistoryEvent;
  /** Not before (a durable timer); undefined: now. */
  deliverAt?: string | undefined;
}

export type ChildStart = Extract<Action, { kind: 'CreateSubOrchestration' }>;

/** Side effects of the turn's actions, carried out whatever the ending. */
export interface Effects {
  jobs: ActivityJob[];
  timers: Message[];
  children: ChildStart[];
  /** Operations for entities (callEntity, signalEntity), sent with the turn's commit. */
  entityMessages: Message[];
}

export interface TurnFacts {
  instanceId: string;
  executionId: string;
  name: string;
  /** History events recorded before this turn. */
  historyLength: number;
  /** The turn's timestamp (ISO). */
  now: string;
  /** Tasks still open after this turn (the executor's openTasks). */
  openTasks: number;
  limits: { maxHistoryEvents: number; maxPendingTasks: number };
}

export type Decision =
  /** Nothing happened (a wake-up with nothing due): record nothing, consume the messages. */
  | { kind: 'idle' }
  /** A limit is exceeded: fail the instance before anything is carried out. */
  | { kind: 'fail'; failure: FailureDetails }
  /** The execution goes on: append `events`, carry out `effects`. */
  | { kind: 'continue'; events: HistoryEvent[]; effects: Effects; customStatus: string | null }
  /** A new execution with `input` and the unconsumed events; this execution's history is dropped. */
  | { kind: 'continueAsNew'; events: HistoryEvent[]; effects: Effects; input: string | undefined; carryOver: HistoryEvent[]; customStatus: string | undefined }
  /** The execution ends; `events` closes with ExecutionCompleted. */
  | {
      kind: 'end';
      events: HistoryEvent[];
      effects: Effects;
      status: 'Completed' | 'Failed';
      output: string | undefined;
      failure: FailureDetails | undefined;
      customStatus: string | undefined;
      /** False when no activity can be outstanding (the end skips looking for jobs to cancel). */
      mayHaveOpenTasks: boolean;
    };

/** Names for what the turn creates: job ids (random in the runner, fixed in tests), and which call a retry belongs to. */
export interface TurnIds {
  jobId: (taskId: number) => string;
  /** For an activity scheduled as a retry of callActivityWithRetry: its call's first task and prior attempts. */
  retryOf?: (taskId: number) => RetryOf | undefined;
  /** The turn's trace context, carried by its activity jobs. */
  trace?: string | undefined;
}

/** The turn's decision. */
export function decide(facts: TurnFacts, accepted: readonly HistoryEvent[], result: TurnResult, ids: TurnIds): Decision {
  // Limits are checked before anything is carried out (each action adds one history event).
  const limit = checkLimits(facts, facts.historyLength + accepted.length + result.actions.length, result);
  if (limit !== undefined) return { kind: 'fail', failure: limit };
  const completion = result.completion;
  if (completion === undefined && result.actions.length === 0 && accepted.every((e) => e.type === 'OrchestratorStarted')) return { kind: 'idle' };
  const { events: actionEvents, effects } = carryOut(facts, result.actions, ids);
  const events = [...accepted, ...actionEvents];
  if (completion === undefined) return { kind: 'continue', events, effects, customStatus: result.customStatus ?? null };
  if (completion.status === 'ContinuedAsNew') {
    return { kind: 'continueAsNew', events, effects, input: completion.input, carryOver: completion.carryOver, customStatus: result.customStatus };
  }
  const failure = completion.status === 'Failed' ? completion.failure : undefined;
  const closing: EventOf<'ExecutionCompleted'> = {
    type: 'ExecutionCompleted',
    status: completion.status,
    timestamp: facts.now,
    payload: completion.status === 'Completed' ? completion.output : undefined,
    failure,
  };
  return {
    kind: 'end',
    events: [...events, closing],
    effects,
    status: completion.status,
    output: completion.status === 'Completed' ? completion.output : failureOutput(facts.name, completion.failure),
    failure,
    customStatus: result.customStatus,
    mayHaveOpenTasks: facts.openTasks > 0,
  };
}

function checkLimits(facts: TurnFacts, length: number, result: TurnResult): FailureDetails | undefined {
  const { maxHistoryEvents, maxPendingTasks } = facts.limits;
  if (length > maxHistoryEvents) {
    return {
      type: 'HistoryLimitExceeded',
      message: `history would grow to ${length} events, over the limit of ${maxHistoryEvents} (TASKHUB_MAX_HISTORY_EVENTS); use continueAsNew for long-running loops`,
    };
  }
  if (result.completion === undefined && facts.openTasks > maxPendingTasks) {
    return {
      type: 'PendingTasksLimitExceeded',
      message: `the orchestration has ${facts.openTasks} tasks pending at once, over the limit of ${maxPendingTasks} (TASKHUB_MAX_PENDING_TASKS)`,
    };
  }
  return undefined;
}

/** The history event of each action, and what carrying it out takes. */
function carryOut(facts: TurnFacts, actions: readonly Action[], ids: TurnIds): { events: HistoryEvent[]; effects: Effects } {
  const events: HistoryEvent[] = [];
  const effects: Effects = { jobs: [], timers: [], children: [], entityMessages: [] };
  const { instanceId, executionId, now } = facts;
  for (const action of actions) {
    switch (action.kind) {
      case 'ScheduleTask': {
        const id = ids.jobId(action.taskId);
        events.push({ type: 'TaskScheduled', taskId: action.taskId, name: action.name, jobId: id, timestamp: now, payload: action.input });
        effects.jobs.push({ id, data: { instanceId, executionId, taskId: action.taskId, name: action.name, input: action.input, ...ids.retryOf?.(action.taskId), ...(ids.trace === undefined ? {} : { trace: ids.trace }) } });
        break;
      }
      case 'CreateTimer':
        events.push({ type: 'TimerCreated', taskId: action.taskId, fireAt: action.fireAt, timestamp: now });
        // A durable timer is a message due at its fire time.
        effects.timers.push({
          instanceId,
          executionId,
          messageId: timerId(executionId, action.taskId),
          deliverAt: action.fireAt,
          event: { type: 'TimerFired', taskId: action.taskId, fireAt: action.fireAt, timestamp: action.fireAt },
        });
        break;
      case 'CreateSubOrchestration':
        events.push({ type: 'SubOrchestrationInstanceCreated', taskId: action.taskId, name: action.name, instanceId: action.instanceId, timestamp: now, payload: action.input });
        effects.children.push(action);
        break;
      case 'CallEntity':
      case 'SignalEntity': {
        const signal = action.kind === 'SignalEntity';
        events.push({ type: 'EventSent', taskId: action.taskId, instanceId: action.entityId, name: action.name, signal, timestamp: now, payload: action.input });
        effects.entityMessages.push({
          instanceId: action.entityId,
          messageId: entityRequestId(executionId, action.taskId),
          executionId: undefined,
          event: {
            type: 'EntityOperation',
            operation: action.name,
            caller: signal ? undefined : { instanceId, executionId, taskId: action.taskId },
            timestamp: now,
            payload: action.input,
          },
        });
        break;
      }
    }
  }
  return { events, effects };
}

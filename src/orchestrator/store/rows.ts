/**
 * Row shapes of the engine's tables and their conversion to domain types: rows stay in the store,
 * callers get Instance and HistoryEvent.
 */
import type { FailureDetails, HistoryEvent } from '../core/history.ts';
import type { Instance } from '../core/instance.ts';
import type { RuntimeStatus } from '../core/statuses.ts';

export interface InstanceRow {
  instance_id: string;
  name: string;
  execution_id: string;
  runtime_status: RuntimeStatus;
  input: string | null;
  output: string | null;
  custom_status: string | null;
  failure: FailureDetails | null;
  singleton_key: string | null;
  parent_instance_id: string | null;
  parent_execution_id: string | null;
  parent_task_id: number | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
  history_length: number;
  turn_attempts: number;
  lease_owner: string | null;
  /** The traceparent of the start (NULL when not traced). */
  trace_context: string | null;
  concurrency_slot: number | null;
  queued_seq: string | null;
  debounce_at: Date | null;
}

export function rowToInstance(r: InstanceRow): Instance {
  return {
    instanceId: r.instance_id,
    name: r.name,
    executionId: r.execution_id,
    runtimeStatus: r.runtime_status,
    input: r.input,
    output: r.output,
    customStatus: r.custom_status,
    failure: r.failure,
    singletonKey: r.singleton_key,
    parentInstanceId: r.parent_instance_id,
    parentExecutionId: r.parent_execution_id,
    parentTaskId: r.parent_task_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    completedAt: r.completed_at,
    historyLength: r.history_length,
    turnAttempts: r.turn_attempts,
    leaseOwner: r.lease_owner,
    traceContext: r.trace_context,
    concurrencySlot: r.singleton_key === null ? null : r.concurrency_slot,
    queuedSeq: r.queued_seq === null ? null : Number(r.queued_seq),
    debounceAt: r.debounce_at,
  };
}

export const INSTANCE_COLUMNS = `instance_id, name, execution_id, runtime_status, input, output, custom_status, failure,
  singleton_key, parent_instance_id, parent_execution_id, parent_task_id, created_at, updated_at, completed_at,
  history_length, turn_attempts, lease_owner, trace_context, concurrency_slot, queued_seq, debounce_at`;

export interface EventRow {
  event_type: string;
  event_time: Date;
  event: Record<string, unknown>;
  payload: string | null;
}

export function rowToEvent(row: EventRow): HistoryEvent {
  return {
    ...row.event,
    type: row.event_type,
    timestamp: row.event_time.toISOString(),
    payload: row.payload ?? undefined,
  } as HistoryEvent;
}

/** Splits an event into the columns it is stored in. */
export function eventColumns(event: HistoryEvent): { type: string; time: string; event: string; payload: string | null } {
  const { type, timestamp, payload, ...rest } = event;
  return { type, time: timestamp, event: JSON.stringify(rest), payload: payload ?? null };
}

/** Events as the four column arrays the unnest-based inserts take: types, times, events, payloads. */
export function eventArrays(events: readonly HistoryEvent[]): [string[], string[], string[], (string | null)[]] {
  const cols = events.map(eventColumns);
  return [cols.map((c) => c.type), cols.map((c) => c.time), cols.map((c) => c.event), cols.map((c) => c.payload)];
}

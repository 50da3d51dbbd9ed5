/**
 * The instance status payload, field for field as Durable Functions writes it: name, instanceId,
 * runtimeStatus, input, customStatus, output, createdTime, lastUpdatedTime, then historyEvents
 * when asked for. Pure: rows in, JSON text out.
 */
import type { HistoryEvent } from '../orchestrator/core/history.ts';
import type { RuntimeStatus } from '../orchestrator/core/statuses.ts';
import type { Instance } from '../orchestrator/core/instance.ts';
import type { Waiting } from '../orchestrator/core/concurrency.ts';
import { historyView, type HistoryViewOptions } from './history-view.ts';
import { raw, writeJson } from './json.ts';

/** ISO-8601 in whole seconds with a literal Z, as Durable Functions writes instance times. */
export function wholeSeconds(time: Date): string {
  return `${time.toISOString().slice(0, 19)}Z`;
}

export interface StatusOptions {
  showInput: boolean;
  /** The current execution's history, when `showHistory=true`. */
  history?: readonly HistoryEvent[] | undefined;
  historyOptions?: Omit<HistoryViewOptions, 'showInput'> | undefined;
  /** Ours: why a Pending instance waits (its key's queue and place, or its debounce window); absent otherwise. */
  waiting?: Waiting | undefined;
}

export function statusObject(row: Instance, o: StatusOptions): Record<string, unknown> {
  return {
    name: row.name,
    instanceId: row.instanceId,
    runtimeStatus: row.runtimeStatus,
    input: o.showInput ? raw(row.input) : null,
    customStatus: raw(row.customStatus),
    output: raw(row.output),
    createdTime: wholeSeconds(row.createdAt),
    lastUpdatedTime: wholeSeconds(row.updatedAt),
    waiting: o.waiting,
    historyEvents:
      o.history === undefined
        ? undefined
        : historyView(o.history, { showInput: o.showInput, showOutput: false, showDetails: false, ...o.historyOptions }),
  };
}

export function statusJson(row: Instance, o: StatusOptions): string {
  return writeJson(statusObject(row, o));
}

/** A listing page: status payloads, never with history. */
export function statusListJson(rows: readonly Instance[], showInput: boolean): string {
  return writeJson(rows.map((row) => statusObject(row, { showInput })));
}

/**
 * The HTTP status of a status response: 202 while the instance is active (poll again), 200 once
 * it is terminal, 500 for Failed when the caller asked for it.
 */
export function statusCode(status: RuntimeStatus, internalServerErrorOnFailure: boolean): 200 | 202 | 500 {
  if (status === 'Failed') return internalServerErrorOnFailure ? 500 : 200;
  if (status === 'Completed' || status === 'Terminated' || status === 'Canceled') return 200;
  return 202;
}

/**
 * An orchestration instance as the engine and its callers see it (the store maps its rows to this
 * and no row goes further), and the filters and cursor of listings.
 */
import type { FailureDetails } from './history.ts';
import type { RuntimeStatus } from './statuses.ts';

export interface Instance {
  instanceId: string;
  name: string;
  /** The current execution (a new one after continue-as-new, restart with the same id or replacement). */
  executionId: string;
  runtimeStatus: RuntimeStatus;
  /** JSON text as the caller gave it (null: no input). */
  input: string | null;
  /** JSON text: the result, the failure text, or the termination reason. */
  output: string | null;
  customStatus: string | null;
  failure: FailureDetails | null;
  singletonKey: string | null;
  parentInstanceId: string | null;
  parentExecutionId: string | null;
  parentTaskId: number | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  /** The next history sequence number of the current execution (0: no turn ran yet). */
  historyLength: number;
  /** Claims since the last committed turn (poison detection). */
  turnAttempts: number;
  leaseOwner: string | null;
  /** The W3C traceparent of the start (null when not traced): every turn joins its trace. */
  traceContext: string | null;
  /** The slot held in its key (0 … limit-1; null: none, or no key). */
  concurrencySlot?: number | null;
  /** A queued instance's place in line (null: not waiting). */
  queuedSeq?: number | null;
  /** A debounced start not yet started: when it starts. */
  debounceAt?: Date | null;
}

export interface ListFilter {
  createdFrom?: Date | undefined;
  createdTo?: Date | undefined;
  statuses?: RuntimeStatus[] | undefined;
  instanceIdPrefix?: string | undefined;
  /** The orchestration name, exactly (the monitor filters by it). */
  name?: string | undefined;
}

/** Where a page of a listing ends: (created_at, instance_id) of its last instance. */
export interface Cursor {
  createdAt: string;
  instanceId: string;
}

/** How many instances of an orchestration are in a status (the monitor's overview, the metrics' gauge). */
export interface InstanceCount {
  name: string;
  runtimeStatus: RuntimeStatus;
  count: number;
}

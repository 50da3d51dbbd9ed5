/**
 * What the engine tells the outside about its work: starts, turns and activity attempts, for
 * metrics and traces (src/telemetry implements it). A port, like the activity queue: the engine
 * calls these few hooks and knows nothing of Prometheus or OpenTelemetry. The default does nothing.
 *
 * Trace context crosses the queue and the database as a W3C `traceparent` string: stored with the
 * instance at its start (so every turn of it joins the start's trace) and put into each activity
 * job's data (so each attempt joins the turn that scheduled it). One orchestration is one trace.
 */

/** queued: accepted to wait in its key's queue; debounced: accepted into a debounce window (new or collapsed). */
export type StartOutcome = 'accepted' | 'queued' | 'debounced' | 'existing' | 'conflict' | 'rejected';
export type TurnOutcome = 'committed' | 'error';
/** `timeout` and `abandoned` are for the per-activity timeouts of the worker rewrite (issue 12). */
export type ActivityOutcome = 'completed' | 'failed' | 'unregistered' | 'quarantined' | 'timeout' | 'abandoned';

export interface TurnObservation {
  /** The turn's trace context, for the activity jobs it enqueues (undefined when not tracing). */
  readonly traceparent: string | undefined;
  /** `replayed`: history events replayed to rebuild the orchestrator (0 when continued from cache). */
  end(outcome: TurnOutcome, replayed: number): void;
}

export interface ActivityObservation {
  /** Runs the activity function inside the attempt's span (user code's own spans nest under it). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  end(outcome: ActivityOutcome): void;
}

export interface InstanceRef {
  instanceId: string;
  executionId: string;
  name: string;
}

export interface Instrumentation {
  /**
   * Around a start: `fn` gets the traceparent to store with the new instance; the outcome is read
   * from its result (`created`/`existing`) or from the error it throws (a conflict code or another).
   */
  start<T>(name: string, fn: (traceparent: string | undefined) => Promise<T>, outcomeOf: (result: T | undefined, err: unknown) => StartOutcome): Promise<T>;
  /** A turn of a locked instance, continuing the trace stored with it. */
  turn(instance: InstanceRef & { traceparent: string | null }): TurnObservation;
  /** One attempt of an activity job (`attempt` 0 is the first delivery; more are redeliveries). */
  activity(job: InstanceRef & { taskId: number; attempt: number; traceparent: string | undefined }): ActivityObservation;
}

const IDLE_TURN: TurnObservation = { traceparent: undefined, end: () => undefined };
const IDLE_ACTIVITY: ActivityObservation = { run: (fn) => fn(), end: () => undefined };

export const NO_INSTRUMENTATION: Instrumentation = {
  start: (_name, fn) => fn(undefined),
  turn: () => IDLE_TURN,
  activity: () => IDLE_ACTIVITY,
};

/**
 * What the engine needs from outside, as interfaces (ports); the adapters implement them and the
 * composition root (src/taskhub.ts) plugs them in. The engine itself imports no adapter: pg-boss is
 * behind ActivityQueue (src/activities/queue.ts), and the in-process wake-ups are plain callbacks.
 */
import type { Queryable } from '../db/pool.ts';

/** What an activity job carries: which task of which execution to run, and with what. */
export interface ActivityJobData {
  instanceId: string;
  executionId: string;
  taskId: number;
  name: string;
  /** JSON text of the input (undefined: no input). */
  input?: string | undefined;
}

export interface ActivityJob {
  /** The job's id, recorded in the TaskScheduled event (so that terminate can cancel it). */
  id: string;
  data: ActivityJobData;
}

/**
 * The queue that carries activity calls. Both verbs run on the caller's connection, inside the
 * caller's transaction: jobs exist exactly when the turn that scheduled them commits, and a
 * termination that rolls back cancels nothing.
 */
export interface ActivityQueue {
  /** Enqueues the jobs (none: no round trip). */
  enqueue(db: Queryable, jobs: readonly ActivityJob[]): Promise<void>;
  /** Cancels queued and running jobs; a finished one is left as it is. */
  cancel(db: Queryable, jobIds: readonly string[]): Promise<void>;
}

/**
 * An in-process wake-up, called after a commit: tells a loop in this process that work is there,
 * without waiting for its NOTIFY or its poll (which stay the cluster-wide path).
 */
export type WakeUp = () => void;

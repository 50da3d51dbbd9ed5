/**
 * What the engine needs from outside, as interfaces (ports); the adapters implement them and the
 * composition root (src/taskhub.ts) plugs them in. The engine itself imports no adapter: pg-boss is
 * behind ActivityQueue (src/activities/queue.ts), and the in-process wake-ups are plain callbacks.
 */
import type { Queryable } from '../db/pool.ts';
import type { ActivityJob } from './core/decide.ts';

export type { ActivityJob, ActivityJobData } from './core/decide.ts';

/**
 * The queue that carries activity calls. Both verbs run on the caller's connection, inside the
 * caller's transaction: jobs exist exactly when the turn that scheduled them commits, and a
 * termination that rolls back cancels nothing.
 */
export interface ActivityQueue {
  /**
   * Enqueues the jobs (none: no round trip). The first `claim` of them are enqueued already claimed
   * for this process's activity worker (ActivityHandoff), in the same transaction; those are returned.
   */
  enqueue(db: Queryable, jobs: readonly ActivityJob[], claim?: number): Promise<readonly ClaimedJob[]>;
  /** Cancels queued and running jobs; a finished one is left as it is. */
  cancel(db: Queryable, jobIds: readonly string[]): Promise<void>;
}

/**
 * An in-process wake-up, called after a commit: tells a loop in this process that work is there,
 * without waiting for its NOTIFY or its poll (which stay the cluster-wide path).
 */
export type WakeUp = () => void;

/**
 * Wake-ups announced after a commit, outside the writing transaction (a NOTIFY inside one serialises
 * every notifying commit of the cluster; see src/db/notifier.ts): the other processes hear a
 * coalesced NOTIFY, this process's own loops are woken at once.
 */
export interface PostCommitWake {
  /** Turns fell due (an instance was started, results were recorded). */
  turns(): void;
}

/**
 * Turn slots of this process's dispatcher, lent to a transaction that makes instances due (recorded
 * activity results): it claims their turns itself, in its own transaction, and the dispatcher runs
 * them after the commit, without a claim round trip or a wake-up. A reservation not adopted must be
 * released (the transaction rolled back).
 */
export interface TurnHandoff {
  /** Reserves up to `wanted` free turn slots; undefined when none is free. */
  reserve(wanted: number): TurnReservation | undefined;
  /** After the commit: runs the turns claimed under the reservation, and frees its unused slots. */
  adopt(reservation: TurnReservation, claims: readonly { instanceId: string; attempts: number }[]): void;
  /** The transaction did not commit: frees the reservation's slots. */
  release(reservation: TurnReservation): void;
}

/** Slots reserved in a dispatcher, and the lease its claims take. */
export interface TurnReservation {
  owner: string;
  leaseSeconds: number;
  slots: number;
}

/** A job enqueued already claimed for this process's activity worker; its shape is the queue adapter's. */
export interface ClaimedJob {
  readonly id: string;
}

/**
 * Activity slots of this process's worker, lent to a turn that schedules activities: the turn enqueues
 * that many of its jobs already claimed (still pg-boss jobs, written in the turn's transaction, so a
 * crash redelivers them as any claimed job), and the worker runs them after the commit without a
 * fetch: one commit and one wake-up fewer per activity. Slots reserved must be adopted after the
 * commit or released if the transaction did not commit.
 */
export interface ActivityHandoff {
  /** Reserves up to `wanted` free activity slots; returns how many (0: none free). */
  reserve(wanted: number): number;
  /** After the commit: runs the jobs claimed under the reservation, and frees its unused slots. */
  adopt(reserved: number, jobs: readonly ClaimedJob[]): void;
  /** The transaction did not commit: frees the slots. */
  release(reserved: number): void;
}

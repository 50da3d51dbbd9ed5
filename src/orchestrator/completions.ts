/**
 * Waiting for instances to end (the wait mode of a start or restart) without a query per waiting
 * request. An execution that ends in this process wakes its waiters at once (the runner's and the
 * control plane's completion notices, after commit). For ends elsewhere (an api process whose
 * workers run apart) one shared poll per process asks about every waited-on instance in a single
 * statement, at most every POLL_MS, whatever the number of waiters: 200 waiting requests cost
 * the same one query as one.
 */
import type { Logger } from 'pino';
import { describePgError, type Pool } from '../db/pool.ts';
import { endedAmong } from './store/instances.ts';

/** The shared poll's interval: the latency floor of a wait for an instance that ends in another process. */
const POLL_MS = 100;

interface Waiter {
  resolve: () => void;
}

export class CompletionWatch {
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  /** Poll statements run, for tests and a later metric. */
  polls = 0;

  constructor(pool: Pool, log: Logger) {
    this.pool = pool;
    this.log = log;
  }

  /** Instances being waited on now. */
  get watched(): number {
    return this.waiters.size;
  }

  /**
   * Resolves when `instanceId` has ended (or may have: the caller reads it again), when `timeoutMs`
   * passes, or when `signal` aborts. The caller checks the instance itself before and after.
   */
  wait(instanceId: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(instanceId) ?? new Set<Waiter>();
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        set.delete(waiter);
        if (set.size === 0 && this.waiters.get(instanceId) === set) this.waiters.delete(instanceId);
        resolve();
      };
      const waiter: Waiter = { resolve: done };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      signal.addEventListener('abort', done);
      set.add(waiter);
      this.waiters.set(instanceId, set);
      this.schedule();
    });
  }

  /** An execution ended in this process (its transaction committed): wake its waiters. */
  ended(instanceId: string): void {
    const set = this.waiters.get(instanceId);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter.resolve();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.resolve();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.polling) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, POLL_MS);
  }

  private async poll(): Promise<void> {
    if (this.waiters.size === 0) return;
    this.polling = true;
    try {
      this.polls++;
      for (const instanceId of await endedAmong(this.pool, [...this.waiters.keys()])) this.ended(instanceId);
    } catch (err) {
      this.log.warn({ err: describePgError(err) }, 'polling for ended instances failed; retrying');
    } finally {
      this.polling = false;
    }
    if (this.waiters.size > 0) this.schedule();
  }
}

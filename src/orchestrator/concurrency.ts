/**
 * The concurrency sweeper, run by every worker process: it starts debounced instances whose window
 * has passed (each row claimed with SKIP LOCKED, so one process promotes it), and, as a safety net,
 * hands free slots to waiting instances. The hand-off itself happens in the transaction that frees
 * a slot (the triggers of migrations/0006_concurrency.sql), so the net finds work only after a limit
 * was raised by a redeploy or rows were changed by hand; a crash never needs it (the release and the
 * hand-off commit together).
 */
import type { Logger } from 'pino';
import { describePgError, type Pool, withTransaction } from '../db/pool.ts';
import { isUniqueViolation } from '../db/sqlstate.ts';
import type { Registry } from './registry.ts';
import { claimDueDebounced, handFreeSlot, lockKey, promoteDebounced, starvedKeys } from './store/concurrency.ts';
import { SINGLETON_INDEX } from './store/instances.ts';
import { notifyWake } from './store/turns.ts';

/**
 * How often due debounced starts are looked for: a debounced instance starts at most this late
 * (one index probe of a partial index that holds only debouncing rows).
 */
export const DEBOUNCE_SWEEP_MS = 200;
/** How often the safety net looks for keys with a free slot and a waiter. */
export const STARVED_SWEEP_MS = 2_000;
/** Debounced rows promoted per transaction. */
const BATCH = 50;

export class ConcurrencySweeper {
  private readonly pool: Pool;
  private readonly registry: Registry;
  private readonly schema: string;
  private readonly log: Logger;
  private timers: NodeJS.Timeout[] = [];
  private running = new Set<Promise<unknown>>();

  constructor(pool: Pool, registry: Registry, schema: string, log: Logger) {
    this.pool = pool;
    this.registry = registry;
    this.schema = schema;
    this.log = log.child({ component: 'concurrency' });
  }

  /** Sweeps on its intervals; nothing when no orchestration has a limit or a debounce. */
  start(): void {
    const configured = this.registry.listOrchestrations().map((o) => this.registry.concurrency(o.name));
    if (configured.some((c) => c?.debounce !== undefined)) this.every(DEBOUNCE_SWEEP_MS, () => this.promoteDue());
    if (configured.some((c) => c?.limit !== undefined)) this.every(STARVED_SWEEP_MS, () => this.feedStarved());
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.all(this.running);
  }

  private every(ms: number, sweep: () => Promise<number>): void {
    let busy = false;
    this.timers.push(
      setInterval(() => {
        if (busy) return;
        busy = true;
        const run = sweep()
          .catch((err: unknown) => {
            this.log.warn({ err: describePgError(err) }, 'concurrency sweep failed; retrying');
            return 0;
          })
          .finally(() => {
            busy = false;
            this.running.delete(run);
          });
        this.running.add(run);
      }, ms),
    );
  }

  /** Starts (or queues, under a limit) every debounced instance whose window has passed; returns how many. */
  async promoteDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await withTransaction(this.pool, async (client) => {
        const due = await claimDueDebounced(client, BATCH);
        for (const row of due) {
          const limit = this.registry.concurrency(row.name)?.limit;
          if (limit !== undefined) await lockKey(client, row.key);
          for (let attempt = 0; ; attempt++) {
            await client.query('SAVEPOINT promote');
            try {
              await promoteDebounced(client, row.instanceId, row.key, limit);
              await client.query('RELEASE SAVEPOINT promote');
              break;
            } catch (err) {
              await client.query('ROLLBACK TO SAVEPOINT promote');
              // Another start took the slot picked: pick again (the next one, or the queue).
              if (!isUniqueViolation(err, SINGLETON_INDEX) || attempt > (limit ?? 0) + 2) throw err;
            }
          }
        }
        if (due.length > 0) await notifyWake(client, this.schema);
        return due.length;
      });
      total += n;
      if (n < BATCH) return total;
    }
  }

  /** The safety net: free slots of limited keys to their oldest waiters; returns how many were handed. */
  async feedStarved(): Promise<number> {
    const limits = this.registry.listOrchestrations().flatMap((o) => {
      const limit = this.registry.concurrency(o.name)?.limit;
      return limit === undefined ? [] : [{ name: o.name, limit }];
    });
    if (limits.length === 0) return 0;
    let handed = 0;
    for (const { key, limit } of await starvedKeys(this.pool, limits)) {
      handed += await withTransaction(this.pool, async (client) => {
        await lockKey(client, key);
        let n = 0;
        while ((await handFreeSlot(client, key, limit)) !== undefined) n++;
        if (n > 0) await notifyWake(client, this.schema);
        return n;
      });
    }
    if (handed > 0) this.log.warn({ handed }, 'free slots handed to waiting instances by the sweep (a limit was raised, or rows changed by hand)');
    return handed;
  }
}

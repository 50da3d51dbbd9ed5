/**
 * Run deadlines (an orchestration's `deadlineSeconds`, like Temporal's execution timeout): an
 * instance still active that long after it was started is terminated with a reason naming the
 * deadline, its queued and running activities cancelled as terminate does. A stuck daily singleton
 * thereby frees its slot before the next tick. Every worker process sweeps; two sweeping the same
 * instance serialise on its row lock and the second finds it already ended.
 */
import type { Logger } from 'pino';
import { describePgError, type Pool, withTransaction } from '../db/pool.ts';
import { type EngineContext, terminateExecution } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { isActive } from './core/statuses.ts';
import { findOverdue, lockInstance } from './store/instances.ts';
import type { Instance } from './core/instance.ts';

/** The termination reason when `row` is past its orchestration's deadline at `now`, else undefined. */
export function deadlineReason(registry: Registry, row: Instance, now: Date): string | undefined {
  const seconds = registry.getOrchestration(row.name)?.options.deadlineSeconds;
  if (seconds === undefined || !isActive(row.runtimeStatus)) return undefined;
  const age = (now.getTime() - row.createdAt.getTime()) / 1000;
  if (age < seconds) return undefined;
  return `run deadline exceeded: '${row.name}' has deadlineSeconds ${seconds}, and this instance was still ${row.runtimeStatus} ${Math.floor(age)} s after it started (${row.createdAt.toISOString()})`;
}

export class DeadlineSweeper {
  private readonly pool: Pool;
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  /** Instances this process terminated for their deadline. */
  terminated = 0;

  constructor(pool: Pool, ctx: EngineContext, registry: Registry, log: Logger, intervalMs: number) {
    this.pool = pool;
    this.ctx = ctx;
    this.registry = registry;
    this.log = log.child({ component: 'deadlines' });
    this.intervalMs = intervalMs;
  }

  /** Sweeps every interval; a no-op when no registered orchestration declares a deadline. */
  start(): void {
    if (!this.registry.listOrchestrations().some((o) => o.options.deadlineSeconds !== undefined)) return;
    this.timer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((err) => {
          this.log.warn({ err: describePgError(err) }, 'deadline sweep failed; retrying');
          return 0;
        })
        .finally(() => (this.sweeping = undefined));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** Terminates the instances past their deadline; returns how many. */
  async sweep(): Promise<number> {
    const withDeadline = this.registry.listOrchestrations().filter((o) => o.options.deadlineSeconds !== undefined);
    if (withDeadline.length === 0) return 0;
    const overdue = await findOverdue(this.pool, withDeadline.map((o) => ({ name: o.name, seconds: o.options.deadlineSeconds as number })));
    let count = 0;
    for (const instanceId of overdue) {
      const reason = await withTransaction(this.pool, async (client) => {
        const row = await lockInstance(client, instanceId);
        const why = row === undefined ? undefined : deadlineReason(this.registry, row, new Date());
        if (row !== undefined && why !== undefined) await terminateExecution(this.ctx, client, row, why);
        return why;
      });
      if (reason === undefined) continue;
      count++;
      this.terminated++;
      this.log.warn({ instanceId, reason }, 'instance terminated: run deadline exceeded');
    }
    return count;
  }
}

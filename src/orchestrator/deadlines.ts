/**
 * Run deadlines (an orchestration's `deadlineSeconds`, like Temporal's execution timeout): an
 * instance still active that long after it was started is terminated with a reason naming the
 * deadline, its queued and running activities cancelled as terminate does. A stuck daily singleton
 * thereby frees its slot before the next tick. Every worker process sweeps; two sweeping the same
 * instance serialise on its row lock and the second finds it already ended.
 */
import type { Logger } from 'pino';
import { describePgError, type Pool, type Queryable, withTransaction } from '../db/pool.ts';
import { type EngineContext, endExecution } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { ACTIVE_STATUSES } from './status.ts';
import { lockInstance } from './store/instances.ts';
import type { InstanceRow } from './store/rows.ts';

/** Instances of the named orchestrations active past their deadline, oldest first, a bounded batch. */
const OVERDUE = `
  SELECT i.instance_id FROM instances i
  JOIN unnest($1::text[], $2::float8[]) AS d(name, seconds) ON i.name = d.name
  WHERE i.runtime_status = ANY($3::text[]) AND i.created_at < now() - d.seconds * interval '1 second'
  ORDER BY i.created_at LIMIT 100`;

/** The termination reason when `row` is past its orchestration's deadline at `now`, else undefined. */
export function deadlineReason(registry: Registry, row: InstanceRow, now: Date): string | undefined {
  const seconds = registry.getOrchestration(row.name)?.options.deadlineSeconds;
  if (seconds === undefined || !ACTIVE_STATUSES.includes(row.runtime_status)) return undefined;
  const age = (now.getTime() - row.created_at.getTime()) / 1000;
  if (age < seconds) return undefined;
  return `run deadline exceeded: '${row.name}' has deadlineSeconds ${seconds}, and this instance was still ${row.runtime_status} ${Math.floor(age)} s after it started (${row.created_at.toISOString()})`;
}

/** Terminates a locked instance for its deadline, as the terminate action does. */
export async function terminateForDeadline(ctx: EngineContext, client: Queryable, row: InstanceRow, reason: string): Promise<void> {
  await endExecution(ctx, client, row, { status: 'Terminated', output: JSON.stringify(reason) }, [
    { type: 'ExecutionTerminated', reason, timestamp: new Date().toISOString() },
  ]);
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
    const { rows } = await this.pool.query<{ instance_id: string }>(OVERDUE, [
      withDeadline.map((o) => o.name),
      withDeadline.map((o) => o.options.deadlineSeconds),
      ACTIVE_STATUSES,
    ]);
    let count = 0;
    for (const { instance_id: instanceId } of rows) {
      const reason = await withTransaction(this.pool, async (client) => {
        const row = await lockInstance(client, instanceId);
        const why = row === undefined ? undefined : deadlineReason(this.registry, row, new Date());
        if (row !== undefined && why !== undefined) await terminateForDeadline(this.ctx, client, row, why);
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

/**
 * The engine verbs the activity adapter calls (src/activities/ never touches the store): record
 * results, and quarantine an activity whose job keeps crashing its workers. Both run in the
 * caller's transaction or their own, and leave pg-boss to the adapter.
 */
import { type Pool, type Queryable, withTransaction } from '../db/pool.ts';
import type { EventOf } from './core/history.ts';
import { type EngineContext, failInstance } from './lifecycle.ts';
import { taskResultId } from './core/message-ids.ts';
import { isActive } from './core/statuses.ts';
import type { ActivityJobData } from './ports.ts';
import { deliver } from './store/inbox.ts';
import { lockInstance } from './store/instances.ts';
import { notifyWake } from './store/turns.ts';

export interface TaskResult {
  instanceId: string;
  executionId: string;
  event: EventOf<'TaskCompleted' | 'TaskFailed'>;
}

/**
 * Delivers activity results to their executions, in the caller's transaction, and announces the
 * wake-up. Idempotent: a result's message id is its execution and task, so a second delivery of it
 * is dropped; results for ended or replaced executions are dropped too. Returns how many
 * instances received a result.
 */
export async function recordTaskResults(ctx: EngineContext, db: Queryable, results: readonly TaskResult[]): Promise<number> {
  const delivered = await deliver(
    db,
    results.map((r) => ({ instanceId: r.instanceId, executionId: r.executionId, messageId: taskResultId(r.executionId, r.event.taskId), event: r.event })),
  );
  if (delivered > 0) await notifyWake(db, ctx.schema);
  return delivered;
}

/**
 * Fails the instance of an activity job delivered more times than the poison limit allows (its
 * worker crashed or lost its heartbeat each time), unless that execution has already ended.
 */
export async function quarantineActivity(ctx: EngineContext, pool: Pool, job: ActivityJobData, deliveries: number): Promise<void> {
  await withTransaction(pool, async (client) => {
    const row = await lockInstance(client, job.instanceId);
    if (row === undefined || row.executionId !== job.executionId || !isActive(row.runtimeStatus)) return;
    await failInstance(ctx, client, row, {
      type: 'PoisonActivity',
      message: `quarantined: activity '${job.name}' (task ${job.taskId}) was delivered ${deliveries} times without finishing (its worker crashed or lost its heartbeat each time)`,
    });
  });
}

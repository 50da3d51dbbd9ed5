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
import type { ActivityJobData, TurnReservation } from './ports.ts';
import { deliverTo } from './store/inbox.ts';
import { lockInstance } from './store/instances.ts';
import { type Claim, claimThese, notifyWake } from './store/turns.ts';

export interface TaskResult {
  instanceId: string;
  executionId: string;
  event: EventOf<'TaskCompleted' | 'TaskFailed'>;
}

/**
 * Delivers activity results to their executions, in the caller's transaction, and announces the
 * wake-up. Idempotent: a result's message id is its execution and task, so a second delivery of it
 * is dropped; results for ended or replaced executions are dropped too. With a reservation of turn
 * slots (a dispatcher in this process), the turns the results make due are claimed here, in the
 * same transaction, for that dispatcher to run after the commit: one commit and one claim round
 * trip fewer per step. Only instances not claimed so (a turn is running, or no slot) are announced;
 * when every one was claimed, no other process has anything to wake for. With a post-commit wake
 * (ctx.wake) the announcement is the caller's, after the commit (`unclaimed` says whether one is due);
 * without, a NOTIFY in the transaction. Returns how many instances received a result, and the claims.
 */
export async function recordTaskResults(
  ctx: EngineContext,
  db: Queryable,
  results: readonly TaskResult[],
  reservation?: TurnReservation,
): Promise<{ delivered: number; claims: Claim[]; unclaimed: boolean }> {
  // The claim is pipelined behind the delivery (one round trip): it runs after it, on every instance a
  // result is for; one whose result was a duplicate is claimed only if it is due anyway.
  const delivering = deliverTo(
    db,
    results.map((r) => ({ instanceId: r.instanceId, executionId: r.executionId, messageId: taskResultId(r.executionId, r.event.taskId), event: r.event })),
  );
  const claiming = reservation ? claimThese(db, reservation.owner, reservation.leaseSeconds, reservation.slots, [...new Set(results.map((r) => r.instanceId))]) : Promise.resolve([]);
  const [instances, claims] = await Promise.all([delivering, claiming]);
  const claimed = new Set(claims.map((c) => c.instanceId));
  const wake = instances.some((id) => !claimed.has(id));
  if (wake && !ctx.wake) await notifyWake(db, ctx.schema);
  return { delivered: instances.length, claims, unclaimed: wake };
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

/**
 * Rewind, the engine verb: a Failed instance runs again from its last failures (core/rewind.ts
 * decides what its history becomes). Its failed children are rewound with it, or started again
 * when they are gone; the instance takes its singleton slot back only if no other instance holds
 * it. Runs in the caller's transaction, with the instance row locked.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '../db/pool.ts';
import { isUniqueViolation } from '../db/sqlstate.ts';
import type { EventOf } from './core/history.ts';
import type { Instance } from './core/instance.ts';
import { planRewind } from './core/rewind.ts';
import { EngineError } from './engine-error.ts';
import type { EngineContext } from './lifecycle.ts';
import { childStartProblem, type Starts } from './starts.ts';
import { loadHistory, replaceHistory } from './store/history.ts';
import { getInstance, lockInstance, SINGLETON_INDEX, updateInstance } from './store/instances.ts';
import { notifyWake } from './store/turns.ts';

export async function rewindLocked(ctx: EngineContext, starts: Starts, client: Client, instanceId: string, reason: string | undefined): Promise<void> {
  const row = await lockInstance(client, instanceId);
  if (row === undefined) throw new EngineError('INSTANCE_NOT_FOUND', `No instance with ID '${instanceId}' was found.`);
  // Durable Functions' codes: an instance that ended well (or was ended) cannot be rewound at all
  // (INSTANCE_ENDED, 410 on the wire); any other state but Failed is a precondition (412).
  const why = `Only failed orchestration instances can be rewound. Instance '${instanceId}' is ${row.runtimeStatus}.`;
  if (row.runtimeStatus === 'Completed' || row.runtimeStatus === 'Terminated') throw new EngineError('INSTANCE_ENDED', why, { runtimeStatus: row.runtimeStatus });
  if (row.runtimeStatus !== 'Failed') throw new EngineError('PRECONDITION', why, { runtimeStatus: row.runtimeStatus });
  const history = await loadHistory(client, instanceId, row.executionId);
  const plan = planRewind(row, history, reason, new Date().toISOString(), () => randomUUID());
  for (const created of plan.children) await rerunChild(ctx, starts, client, row, created);
  await replaceHistory(client, instanceId, row.executionId, plan.history);
  await client.query('SAVEPOINT rewind');
  try {
    await updateInstance(client, instanceId, { status: 'Running', output: null, failure: null, completed: false, historyLength: plan.history.length, wake: 'now' });
  } catch (err) {
    await client.query('ROLLBACK TO SAVEPOINT rewind');
    if (isUniqueViolation(err, SINGLETON_INDEX)) {
      throw new EngineError('SINGLETON_ACTIVE', `Instance '${instanceId}' cannot be rewound: its single-instance orchestration has another active instance.`);
    }
    throw err;
  }
  await ctx.activities.enqueue(client, plan.jobs);
  await notifyWake(client, ctx.schema);
}

/** A failed child of a rewound parent: rewound with it when it is still there and Failed, else started again. */
async function rerunChild(ctx: EngineContext, starts: Starts, client: Client, parent: Instance, created: EventOf<'SubOrchestrationInstanceCreated'>): Promise<void> {
  const child = await getInstance(client, created.instanceId);
  if (child && child.runtimeStatus === 'Failed' && child.parentInstanceId === parent.instanceId) {
    await rewindLocked(ctx, starts, client, child.instanceId, 'parent rewound');
    return;
  }
  const spec = {
    name: created.name,
    instanceId: created.instanceId,
    input: created.payload,
    parent: { instanceId: parent.instanceId, executionId: parent.executionId, taskId: created.taskId },
  };
  const planned = starts.plan(spec);
  if ('problem' in planned) {
    throw new EngineError('WRONG_STATE', `Sub-orchestration '${created.instanceId}' cannot be started again: ${childStartProblem(spec, planned)}.`);
  }
  const outcome = await starts.createWithin(client, planned);
  if (!outcome.created) {
    throw new EngineError('WRONG_STATE', `Sub-orchestration '${created.instanceId}' cannot be started again: it is still active or its singleton is held.`);
  }
}

/**
 * Ending an execution, shared by the turn runner (an orchestration completes or fails), the control
 * plane (terminate) and the activity worker (quarantine). Runs inside the caller's transaction with
 * the instance row locked.
 */
import type { Pool, Queryable } from '../db/pool.ts';
import { failureOutput } from './core/failures.ts';
import type { FailureDetails, HistoryEvent } from './core/history.ts';
import { subOrchestrationResultId } from './core/message-ids.ts';
import type { ActivityQueue, PostCommitWake } from './ports.ts';
import { openJobIds } from './store/history.ts';
import { deliver } from './store/inbox.ts';
import type { Instance } from './core/instance.ts';
import { commitEnd, notifyWake } from './store/turns.ts';
import type { Instrumentation } from './instrumentation.ts';

/** What every engine verb works with: the engine's pool, its activity queue, its schema. */
export interface EngineContext {
  pool: Pool;
  activities: ActivityQueue;
  /** The engine's schema (names the wake-up channel). */
  schema: string;
  /** Metrics and traces of starts, turns and activities (default: none). */
  instrumentation?: Instrumentation | undefined;
  /** Announces due turns after commit; without it, the hot paths NOTIFY inside their transactions. */
  wake?: PostCommitWake | undefined;
}

export interface Ending {
  status: 'Completed' | 'Failed' | 'Terminated';
  /** JSON text of the output (result, failure text or termination reason). */
  output: string | undefined;
  failure?: FailureDetails | undefined;
  customStatus?: string | undefined;
  /** False when the caller knows no activity is outstanding (skips looking for jobs to cancel). */
  mayHaveOpenTasks?: boolean;
}

/**
 * Appends the closing events, cancels activity jobs still outstanding, drops pending messages,
 * marks the instance terminal, and tells a parent orchestration how its child ended.
 */
export async function endExecution(
  ctx: EngineContext,
  db: Queryable,
  row: Instance,
  ending: Ending,
  events: readonly HistoryEvent[],
): Promise<void> {
  if (ending.mayHaveOpenTasks !== false) {
    // Read before this turn's completions are appended: a job found open here that just completed
    // is left as it is by cancel, which only touches queued and running jobs.
    await ctx.activities.cancel(db, await openJobIds(db, row.instanceId, row.executionId));
  }
  await commitEnd(db, {
    instanceId: row.instanceId,
    executionId: row.executionId,
    firstSeq: row.historyLength,
    events,
    status: ending.status,
    output: ending.output ?? null,
    failure: ending.failure ?? null,
    customStatus: ending.customStatus,
  });
  if (row.parentInstanceId !== null && row.parentExecutionId !== null && row.parentTaskId !== null) {
    const timestamp = new Date().toISOString();
    const taskId = row.parentTaskId;
    const event: HistoryEvent =
      ending.status === 'Completed'
        ? { type: 'SubOrchestrationInstanceCompleted', taskId, timestamp, payload: ending.output }
        : {
            type: 'SubOrchestrationInstanceFailed',
            taskId,
            timestamp,
            failure: ending.failure ?? {
              type: 'Terminated',
              message: `sub-orchestration '${row.instanceId}' was terminated${ending.output ? `: ${JSON.parse(ending.output)}` : ''}`,
            },
          };
    await deliver(db, [
      {
        instanceId: row.parentInstanceId,
        executionId: row.parentExecutionId,
        messageId: subOrchestrationResultId(row.parentExecutionId, taskId),
        event,
      },
    ]);
    await notifyWake(db, ctx.schema);
  }
}

/** Terminates a locked, active instance (the terminate verb, terminate-and-replace). */
export async function terminateExecution(ctx: EngineContext, db: Queryable, row: Instance, reason: string | undefined): Promise<void> {
  await endExecution(
    ctx,
    db,
    row,
    { status: 'Terminated', output: reason === undefined ? undefined : JSON.stringify(reason) },
    [{ type: 'ExecutionTerminated', reason, timestamp: new Date().toISOString() }],
  );
}

/** Fails an instance outright (quarantine, non-determinism, limits). */
export async function failInstance(ctx: EngineContext, db: Queryable, row: Instance, failure: FailureDetails): Promise<void> {
  const timestamp = new Date().toISOString();
  await endExecution(
    ctx,
    db,
    row,
    { status: 'Failed', output: failureOutput(row.name, failure), failure },
    [{ type: 'ExecutionCompleted', status: 'Failed', failure, timestamp }],
  );
}

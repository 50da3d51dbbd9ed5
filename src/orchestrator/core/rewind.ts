/**
 * What rewinding a failed execution does to its history, pure: the failures at the end (after its
 * last scheduled action) and the closing event go, the activities that failed there get new jobs
 * (their TaskScheduled events carry the new job ids), the failed children are named so that they
 * can be rewound or started again, and an ExecutionRewound event is appended. The successful
 * results stay, so replay takes them from history instead of running them again.
 */
import type { ActivityJob } from './decide.ts';
import type { EventOf, HistoryEvent } from './history.ts';

export interface RewindPlan {
  history: HistoryEvent[];
  jobs: ActivityJob[];
  children: EventOf<'SubOrchestrationInstanceCreated'>[];
}

export function planRewind(
  execution: { instanceId: string; executionId: string },
  history: readonly HistoryEvent[],
  reason: string | undefined,
  now: string,
  jobId: () => string,
): RewindPlan {
  const lastAction = history.findLastIndex(
    (e) => e.type === 'TaskScheduled' || e.type === 'TimerCreated' || e.type === 'SubOrchestrationInstanceCreated',
  );
  const rerun = new Set<number>();
  const kept = history.filter((e, i) => {
    if (e.type === 'ExecutionCompleted') return false;
    if ((e.type === 'TaskFailed' || e.type === 'SubOrchestrationInstanceFailed') && i > lastAction) {
      rerun.add(e.taskId);
      return false;
    }
    return true;
  });
  const jobs: ActivityJob[] = [];
  const children: EventOf<'SubOrchestrationInstanceCreated'>[] = [];
  const rewritten = kept.map((e): HistoryEvent => {
    if (e.type === 'SubOrchestrationInstanceCreated' && rerun.has(e.taskId)) children.push(e);
    if (e.type !== 'TaskScheduled' || !rerun.has(e.taskId)) return e;
    const id = jobId();
    jobs.push({ id, data: { instanceId: execution.instanceId, executionId: execution.executionId, taskId: e.taskId, name: e.name, input: e.payload } });
    return { ...e, jobId: id };
  });
  rewritten.push({ type: 'ExecutionRewound', reason, timestamp: now });
  return { history: rewritten, jobs, children };
}

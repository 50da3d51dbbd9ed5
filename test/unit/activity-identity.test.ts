/**
 * The identity of one logical activity call under callActivityWithRetry: every retry names the
 * call's first task id (the activity's idempotency key) and how often the call ran before, policy
 * retries and redeliveries (a TaskFailed's `attempts`) both counted. A plain callActivity has none.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { Executor } from '../../src/orchestrator/core/executor.ts';
import { RetryOptions } from '../../src/orchestrator/core/tasks.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString();

it('retries carry the first attempt task id and the executions before them', () => {
  const executor = new Executor(
    function* (context) {
      const plain: unknown = yield context.df.callActivity('Once');
      const retried: unknown = yield context.df.callActivityWithRetry('Flaky', new RetryOptions(1000, 5));
      return [plain, retried];
    },
    { instanceId: 'i', name: 'o' },
  );
  const failed = (taskId: number, attempts?: number): HistoryEvent => ({
    type: 'TaskFailed',
    taskId,
    timestamp: at(taskId),
    failure: { type: 'Error', message: 'no' },
    ...(attempts === undefined ? {} : { attempts }),
  });
  executor.replay([
    { type: 'OrchestratorStarted', timestamp: at(0) },
    { type: 'ExecutionStarted', name: 'o', timestamp: at(0) },
    { type: 'TaskScheduled', taskId: 0, name: 'Once', jobId: 'j0', timestamp: at(0) },
    { type: 'TaskCompleted', taskId: 0, timestamp: at(1), payload: '1' },
    { type: 'TaskScheduled', taskId: 1, name: 'Flaky', jobId: 'j1', timestamp: at(1) },
    // The first attempt's job was delivered three times (two crashes), then failed.
    failed(1, 3),
    { type: 'TimerCreated', taskId: 2, fireAt: at(1001), timestamp: at(1) },
    { type: 'TimerFired', taskId: 2, fireAt: at(1001), timestamp: at(1001) },
    { type: 'TaskScheduled', taskId: 3, name: 'Flaky', jobId: 'j3', timestamp: at(1001) },
    failed(3),
    { type: 'TimerCreated', taskId: 4, fireAt: at(2001), timestamp: at(1001) },
  ]);
  const { result } = executor.apply([
    { type: 'OrchestratorStarted', timestamp: at(2001) },
    { type: 'TimerFired', taskId: 4, fireAt: at(2001), timestamp: at(2001) },
  ]);
  assert.deepEqual(result.actions, [{ kind: 'ScheduleTask', taskId: 5, name: 'Flaky', input: undefined }]);
  assert.equal(executor.retryOf(0), undefined);
  assert.equal(executor.retryOf(1), undefined, 'the first attempt is the call itself');
  assert.deepEqual(executor.retryOf(3), { callTaskId: 1, priorAttempts: 3 });
  assert.deepEqual(executor.retryOf(5), { callTaskId: 1, priorAttempts: 4 });
});

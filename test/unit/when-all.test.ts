/** Task.all settles once every distinct child has, counted rather than scanned (a task listed twice counts once). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Executor } from '../../src/orchestrator/core/executor.ts';

const T = '2026-01-01T00:00:00.000Z';

it('Task.all with a task listed twice completes with both results in order', () => {
  const executor = new Executor(
    function* (context) {
      const a = context.df.callActivity<number>('A');
      const b = context.df.callActivity<number>('B');
      return yield context.df.Task.all([a, a, b]);
    },
    { instanceId: 'i', name: 'o' },
  );
  const first = executor.apply([
    { type: 'OrchestratorStarted', timestamp: T },
    { type: 'ExecutionStarted', name: 'o', timestamp: T },
  ]);
  assert.equal(first.result.actions.length, 2);
  executor.confirmActions(); // the turn committed (its TaskScheduled events recorded)
  const half = executor.apply([{ type: 'OrchestratorStarted', timestamp: T }, { type: 'TaskCompleted', taskId: 1, timestamp: T, payload: '2' }]);
  assert.equal(half.result.completion, undefined);
  const done = executor.apply([{ type: 'OrchestratorStarted', timestamp: T }, { type: 'TaskCompleted', taskId: 0, timestamp: T, payload: '1' }]);
  assert.deepEqual(done.result.completion, { status: 'Completed', output: '[1,1,2]' });
});

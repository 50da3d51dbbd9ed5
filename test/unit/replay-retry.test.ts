/**
 * callActivityWithRetry / callSubOrchestratorWithRetry under replay: durable timers between
 * attempts, with the backoff delays computed from the turn's recorded time; giving up after
 * maxNumberOfAttempts, on a non-retryable failure, or past the retry timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import type { TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import { RetryOptions } from '../../src/orchestrator/core/tasks.ts';
import { failureOf, outputOf, parse, ReplayHarness, T0 } from '../helpers/replay-harness.ts';

const at = (ms: number): string => new Date(Date.parse(T0) + ms).toISOString();

/** Durable Functions' documented backoff: first interval × coefficient^(attempt−1), capped. */
function expectedDelay(attempt: number, first: number, coefficient: number, max: number): number {
  let delay = first;
  for (let i = 1; i < attempt; i++) delay *= coefficient;
  return Math.min(delay, max);
}

function retrying(options: () => RetryOptions): Orchestrator {
  return function* (context) {
    try {
      const result: unknown = yield context.df.callActivityWithRetry('Flaky', options(), 'payload');
      return { result };
    } catch (err) {
      return { gaveUp: (err as TaskFailedError).failure.message };
    }
  };
}

describe('callActivityWithRetry', () => {
  const first = 1000;
  const coefficient = 2;
  const max = 3000;
  const attempts = 4;
  const options = (): RetryOptions => {
    const retry = new RetryOptions(first, attempts);
    retry.backoffCoefficient = coefficient;
    retry.maxRetryIntervalInMilliseconds = max;
    return retry;
  };

  it('waits on a durable timer between attempts, with backoff from the turn time, and gives up after maxNumberOfAttempts', () => {
    const h = new ReplayHarness(retrying(options), { crossCheck: true });
    const start = h.turn([], { at: at(0) });
    let attempt = start.result.actions[0];
    assert.ok(attempt?.kind === 'ScheduleTask');
    assert.equal(parse(attempt.input), 'payload');
    // Failures arrive at uneven times: each delay counts from the turn that saw the failure.
    const failAt = [1_234, 9_000, 20_500, 40_000];
    for (let n = 1; n <= attempts; n++) {
      const turn = h.turn([h.failed(attempt.taskId, { type: 'Error', message: `attempt ${n} failed` })], { at: at(failAt[n - 1] as number) });
      if (n === attempts) {
        assert.deepEqual(outputOf(turn), { gaveUp: `attempt ${n} failed` });
        break;
      }
      assert.equal(turn.result.actions.length, 1);
      const timer = turn.result.actions[0];
      assert.ok(timer?.kind === 'CreateTimer', `attempt ${n} is followed by a timer`);
      assert.equal(timer.fireAt, new Date(Date.parse(turn.at) + expectedDelay(n, first, coefficient, max)).toISOString());
      const again = h.turn([h.fired(timer.taskId)]);
      assert.equal(again.at, timer.fireAt);
      attempt = again.result.actions[0];
      assert.ok(attempt?.kind === 'ScheduleTask', 'the timer is followed by the next attempt');
      assert.equal(attempt.name, 'Flaky');
      assert.equal(parse(attempt.input), 'payload', 'each attempt gets the same input');
    }
    const scheduled = h.history.filter((e) => e.type === 'TaskScheduled');
    assert.equal(scheduled.length, attempts);
    const delays = h.history.flatMap((e) => (e.type === 'TimerCreated' ? [Date.parse(e.fireAt) - Date.parse(e.timestamp)] : []));
    assert.deepEqual(delays, [1, 2, 3].map((n) => expectedDelay(n, first, coefficient, max)));
    assert.deepEqual(delays, [1000, 2000, 3000], 'the third delay is capped by maxRetryInterval');
  });

  it('returns the result of the attempt that succeeds', () => {
    const h = new ReplayHarness(retrying(options), { crossCheck: true });
    const firstAttempt = h.turn().result.actions[0];
    assert.ok(firstAttempt);
    const timer = h.turn([h.failed(firstAttempt.taskId, { type: 'Error', message: 'transient' })]).result.actions[0];
    assert.ok(timer?.kind === 'CreateTimer');
    const second = h.turn([h.fired(timer.taskId)]).result.actions[0];
    assert.ok(second?.kind === 'ScheduleTask');
    assert.deepEqual(outputOf(h.turn([h.completed(second.taskId, 42)])), { result: 42 });
  });

  it('stops at once on a non-retryable failure', () => {
    const fn: Orchestrator = function* (context) {
      return yield context.df.callActivityWithRetry('Flaky', options(), 'payload');
    };
    const h = new ReplayHarness(fn);
    const attempt = h.turn().result.actions[0];
    assert.ok(attempt);
    const turn = h.turn([h.failed(attempt.taskId, { type: 'NonRetryableError', message: 'bad input', nonRetryable: true })]);
    assert.deepEqual(turn.result.actions, []);
    const failure = failureOf(turn);
    assert.match(failure.message, /bad input/);
    assert.equal(h.history.filter((e) => e.type === 'TimerCreated').length, 0);
  });

  it('retries within the retry timeout and gives up past it', () => {
    const withTimeout = (): RetryOptions => {
      const retry = new RetryOptions(1000, 10);
      retry.retryTimeoutInMilliseconds = 5000;
      return retry;
    };
    const h = new ReplayHarness(retrying(withTimeout));
    const firstAttempt = h.turn([], { at: at(0) }).result.actions[0];
    assert.ok(firstAttempt);
    const early = h.turn([h.failed(firstAttempt.taskId, { type: 'Error', message: 'early' })], { at: at(1000) });
    const timer = early.result.actions[0];
    assert.ok(timer?.kind === 'CreateTimer', 'a failure 1 s in is retried (timeout 5 s)');
    const second = h.turn([h.fired(timer.taskId)]).result.actions[0];
    assert.ok(second);
    const late = h.turn([h.failed(second.taskId, { type: 'Error', message: 'late' })], { at: at(20_000) });
    assert.deepEqual(outputOf(late), { gaveUp: 'late' }, 'a failure 20 s in is not retried (timeout 5 s), although attempts remain');
  });
});

describe('callSubOrchestratorWithRetry', () => {
  const fn = (instanceId?: string): Orchestrator =>
    function* (context) {
      return yield context.df.callSubOrchestratorWithRetry('Child', new RetryOptions(500, 3), { n: 1 }, instanceId);
    };

  function attemptIds(h: ReplayHarness): string[] {
    const ids: string[] = [];
    let child = h.turn().result.actions[0];
    for (let n = 0; n < 2; n++) {
      assert.ok(child?.kind === 'CreateSubOrchestration');
      ids.push(child.instanceId);
      const timer = h.turn([h.subFailed(child.taskId, { type: 'Error', message: `child ${n} failed` })]).result.actions[0];
      assert.ok(timer?.kind === 'CreateTimer');
      child = h.turn([h.fired(timer.taskId)]).result.actions[0];
    }
    assert.ok(child?.kind === 'CreateSubOrchestration');
    ids.push(child.instanceId);
    assert.deepEqual(outputOf(h.turn([h.subCompleted(child.taskId, 'child result')])), 'child result');
    return ids;
  }

  it('starts each attempt under a fresh default child id', () => {
    const h = new ReplayHarness(fn(), { instanceId: 'parent', crossCheck: true });
    const ids = attemptIds(h);
    const taskIds = h.history.flatMap((e) => (e.type === 'SubOrchestrationInstanceCreated' ? [e.taskId] : []));
    assert.deepEqual(ids, taskIds.map((t) => `parent:${t}`));
    assert.equal(new Set(ids).size, 3);
  });

  it('reuses an explicit child id for every attempt', () => {
    const ids = attemptIds(new ReplayHarness(fn('fixed-child'), { instanceId: 'parent', crossCheck: true }));
    assert.deepEqual(ids, ['fixed-child', 'fixed-child', 'fixed-child']);
  });
});

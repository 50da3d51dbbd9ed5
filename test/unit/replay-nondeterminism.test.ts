/**
 * Non-determinism: a history recorded by one version of an orchestrator, replayed by a changed
 * version, must fail with a NonDeterminismError that names the task id, the action history holds
 * and the action the code now takes (engine guarantee 8), never silently go on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OrchestrationContext, Orchestrator } from '../../src/orchestrator/core/context.ts';
import { NonDeterminismError } from '../../src/orchestrator/core/failures.ts';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { Executor } from '../../src/orchestrator/core/executor.ts';
import type { Task } from '../../src/orchestrator/core/tasks.ts';
import { outputOf, ReplayHarness } from '../helpers/replay-harness.ts';

/** Version 1: Reserve, then (Charge ‖ Notify), then Ship. */
function* v1(context: OrchestrationContext): Generator<Task, unknown, any> {
  const id: string = yield context.df.callActivity('Reserve', 'item');
  yield context.df.Task.all([context.df.callActivity('Charge', id), context.df.callActivity('Notify', id)]);
  yield context.df.callActivity('Ship', id);
  return 'done';
}

/** Records v1's full history (task ids: 0 Reserve, 1 Charge, 2 Notify, 3 Ship). */
function recordV1(): HistoryEvent[] {
  const h = new ReplayHarness(v1, { name: 'Order' });
  h.turn();
  h.turn([h.completed(h.only('ScheduleTask', 'Reserve').taskId, 'r-1')]);
  h.turn([h.completed(h.only('ScheduleTask', 'Charge').taskId), h.completed(h.only('ScheduleTask', 'Notify').taskId)]);
  assert.equal(outputOf(h.turn([h.completed(h.only('ScheduleTask', 'Ship').taskId)])), 'done');
  const scheduled = h.history.flatMap((e) => (e.type === 'TaskScheduled' ? [`${e.taskId}:${e.name}`] : []));
  assert.deepEqual(scheduled, ['0:Reserve', '1:Charge', '2:Notify', '3:Ship'], 'the recorded task ids the cases below rely on');
  return h.history;
}

/** Replays `history` with `fn` from scratch, as the runner does after a restart or a deploy. */
function replayWith(fn: Orchestrator, history: HistoryEvent[]): NonDeterminismError {
  const executor = new Executor(fn, { instanceId: 'order-1', name: 'Order' });
  let thrown: unknown;
  try {
    executor.replay(history);
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown instanceof NonDeterminismError, `expected a NonDeterminismError, got ${String(thrown)}`);
  assert.equal(thrown.name, 'NonDeterminismError');
  return thrown;
}

describe('replaying a history with changed code', () => {
  const history = recordV1();
  // The changed versions stop at the first mismatch: the history up to and including the last
  // completion is what a running instance would hold at a deploy.
  const midway = history.slice(0, history.findLastIndex((e) => e.type === 'TaskScheduled') + 1);

  it('names the task, the recorded activity and the new one when an activity is renamed', () => {
    const v2: Orchestrator = function* (context) {
      const id: string = yield context.df.callActivity('Reserve', 'item');
      yield context.df.Task.all([context.df.callActivity('ChargeCard', id), context.df.callActivity('Notify', id)]);
      return 'done';
    };
    const err = replayWith(v2, history);
    assert.match(err.message, /'Order'/);
    assert.match(err.message, /task 1\b/);
    assert.match(err.message, /activity 'Charge' in history/);
    assert.match(err.message, /now schedules activity 'ChargeCard'/);
  });

  it('names the task and both kinds when an activity is replaced by a timer', () => {
    const v2: Orchestrator = function* (context) {
      const id: string = yield context.df.callActivity('Reserve', 'item');
      yield context.df.Task.all([context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 1000)), context.df.callActivity('Notify', id)]);
      return 'done';
    };
    const err = replayWith(v2, midway);
    assert.match(err.message, /task 1\b/);
    assert.match(err.message, /activity 'Charge' in history/);
    assert.match(err.message, /now schedules timer/);
  });

  it('names the task when the code no longer schedules it', () => {
    const v2: Orchestrator = function* (context) {
      const id: string = yield context.df.callActivity('Reserve', 'item');
      yield context.df.Task.all([context.df.callActivity('Charge', id), context.df.callActivity('Notify', id)]);
      return 'done, without shipping';
    };
    const err = replayWith(v2, history);
    assert.match(err.message, /task 3\b/);
    assert.match(err.message, /activity 'Ship'/);
    assert.match(err.message, /did not schedule task 3/);
  });

  it('detects two parallel calls swapped', () => {
    const v2: Orchestrator = function* (context) {
      const id: string = yield context.df.callActivity('Reserve', 'item');
      yield context.df.Task.all([context.df.callActivity('Notify', id), context.df.callActivity('Charge', id)]);
      return 'done';
    };
    const err = replayWith(v2, midway);
    assert.match(err.message, /task 1\b/);
    assert.match(err.message, /activity 'Charge' in history, but the code now schedules activity 'Notify'/);
  });

  it('detects an activity replaced by a sub-orchestration of the same name', () => {
    const v2: Orchestrator = function* (context) {
      yield context.df.callSubOrchestrator('Reserve', 'item');
      return 'done';
    };
    const err = replayWith(v2, midway);
    assert.match(err.message, /task 0\b/);
    assert.match(err.message, /activity 'Reserve' in history, but the code now schedules sub-orchestration 'Reserve'/);
  });

  it('stops the turn: the harness (like the runner) sees the error before recording anything', () => {
    const v2: Orchestrator = function* (context) {
      yield context.df.callActivity('Reserve2', 'item');
      return 'done';
    };
    const h = new ReplayHarness(v2, { name: 'Order', history: midway });
    const before = h.history.length;
    assert.throws(() => h.turn([]), NonDeterminismError);
    assert.equal(h.history.length, before);
  });

  it('accepts code that only adds work after the recorded point (the new action is the next one)', () => {
    const v2: Orchestrator = function* (context) {
      const id: string = yield context.df.callActivity('Reserve', 'item');
      yield context.df.Task.all([context.df.callActivity('Charge', id), context.df.callActivity('Notify', id)]);
      yield context.df.callActivity('Ship', id);
      yield context.df.callActivity('Invoice', id);
      return 'done and invoiced';
    };
    const upToShip = history.slice(0, history.findIndex((e) => e.type === 'TaskCompleted' && e.taskId === 3));
    const h = new ReplayHarness(v2, { name: 'Order', history: upToShip });
    const turn = h.turn([h.completed(3)]);
    const invoice = turn.result.actions[0];
    assert.ok(invoice?.kind === 'ScheduleTask');
    assert.deepEqual([invoice.taskId, invoice.name], [4, 'Invoice']);
  });
});

/**
 * The replay executor, driven turn by turn exactly as the runner drives it (test/helpers/replay-harness.ts):
 * activities, Task.all / Task.any, timers, external events, failures as data, custom status,
 * deterministic time and ids, duplicate and unknown completions, and orchestrators that break the
 * rules. Pure: no database.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import { NonDeterminismError, TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import type { Task } from '../../src/orchestrator/core/tasks.ts';
import { failureOf, outputOf, parse, ReplayHarness } from '../helpers/replay-harness.ts';

describe('activities in sequence', () => {
  const double = (n: number): number => n * 2;
  const fn: Orchestrator = function* (context) {
    const a: number = yield context.df.callActivity('Double', context.df.getInput<number>());
    const b: number = yield context.df.callActivity('Double', a);
    const c: number = yield context.df.callActivity('Double', b);
    return { a, b, c };
  };

  it('passes each result into the next call and returns the output at the end', () => {
    const h = new ReplayHarness(fn, { input: 3, crossCheck: true });
    let value = 3;
    let outcome = h.turn();
    for (let step = 0; step < 3; step++) {
      assert.equal(outcome.result.completion, undefined);
      assert.equal(outcome.result.actions.length, 1);
      const action = outcome.result.actions[0];
      assert.ok(action?.kind === 'ScheduleTask');
      assert.equal(action.name, 'Double');
      assert.equal(parse(action.input), value, `call ${step} gets the previous result`);
      value = double(value);
      outcome = h.turn([h.completed(action.taskId, value)]);
    }
    assert.deepEqual(outputOf(outcome), { a: double(3), b: double(double(3)), c: double(double(double(3))) });
    assert.deepEqual(outcome.result.actions, []);
    assert.equal(h.history.at(-1)?.type, 'ExecutionCompleted');
  });
});

describe('Task.all', () => {
  const fanOut: Orchestrator = function* (context) {
    const inputs = context.df.getInput<number[]>();
    const results: number[] = yield context.df.Task.all(inputs.map((n) => context.df.callActivity<number>('Square', n)));
    return results;
  };

  it('returns the results in the order of the tasks, whatever order they complete in', () => {
    const inputs = [4, 7, 2, 9];
    const h = new ReplayHarness(fanOut, { input: inputs, crossCheck: true });
    const { actions } = h.turn().result;
    assert.deepEqual(actions.map((a) => a.kind === 'ScheduleTask' && parse(a.input)), inputs);
    const reversed = [...actions].reverse();
    for (const action of reversed.slice(0, -1)) {
      const n = parse(action.kind === 'ScheduleTask' ? action.input : undefined) as number;
      assert.equal(h.turn([h.completed(action.taskId, n * n)]).result.completion, undefined, 'waits for all of them');
    }
    const last = reversed.at(-1);
    assert.ok(last);
    const outcome = h.turn([h.completed(last.taskId, (inputs[0] as number) ** 2)]);
    assert.deepEqual(outputOf(outcome), inputs.map((n) => n * n));
  });

  it('fails fast with the first failure to arrive, while other tasks are still open', () => {
    const fn: Orchestrator = function* (context) {
      try {
        yield context.df.Task.all([0, 1, 2, 3].map((n) => context.df.callActivity('Work', n)));
        return 'all done';
      } catch (err) {
        return (err as TaskFailedError).failure.message;
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    const ids = h.turn().result.actions.map((a) => a.taskId);
    // Task 3 fails before task 1 (both in one turn); task 0 succeeds; task 2 is still open.
    const outcome = h.turn([
      h.completed(ids[0] as number, 'ok'),
      h.failed(ids[3] as number, { type: 'Error', message: 'third failed' }),
      h.failed(ids[1] as number, { type: 'Error', message: 'first failed' }),
    ]);
    assert.equal(outputOf(outcome), 'third failed');
    assert.ok(h.pending.has(ids[2] as number), 'task 2 never completed');
  });

  it('completes at once over an empty list', () => {
    const fn: Orchestrator = function* (context) {
      const results: unknown[] = yield context.df.Task.all([]);
      return { results };
    };
    const outcome = new ReplayHarness(fn).turn();
    assert.deepEqual(outcome.result.actions, []);
    assert.deepEqual(outputOf(outcome), { results: [] });
  });
});

describe('Task.any with a timer and an external event', () => {
  /** Waits for 'Approval' or a one-hour timeout; then runs 'After' so that the execution stays open. */
  const fn: Orchestrator = function* (context) {
    const deadline = new Date(context.df.currentUtcDateTime.getTime() + 3_600_000);
    const timer = context.df.createTimer(deadline);
    const approval = context.df.waitForExternalEvent<string>('Approval');
    const winner: Task = yield context.df.Task.any([approval, timer]);
    if (winner === approval) timer.cancel();
    const after: string = yield context.df.callActivity('After');
    return { winner: winner === approval ? 'approval' : winner === timer ? 'timer' : 'other', value: approval.result ?? null, canceled: timer.isCanceled, after };
  };

  it('returns the event task when the event comes first; the timer is cancelled and its late firing is harmless', () => {
    const h = new ReplayHarness(fn, { crossCheck: true });
    const first = h.turn();
    const timer = first.result.actions[0];
    assert.ok(timer?.kind === 'CreateTimer');
    assert.equal(timer.fireAt, new Date(Date.parse(first.at) + 3_600_000).toISOString());

    const approved = h.turn([h.raised('Approval', 'yes')]);
    const after = h.only('ScheduleTask', 'After');
    assert.deepEqual(approved.result.actions, [after]);

    const late = h.fired(timer.taskId);
    const lateTurn = h.turn([late]);
    assert.deepEqual(lateTurn.accepted.filter((e) => e.type === 'TimerFired'), [late], 'the firing is accepted (recorded once)');
    assert.deepEqual(lateTurn.result.actions, []);
    assert.equal(lateTurn.result.completion, undefined);

    const done = h.turn([h.completed(after.taskId, 'after')]);
    assert.deepEqual(outputOf(done), { winner: 'approval', value: 'yes', canceled: true, after: 'after' });
  });

  it('returns the timer task when the timer fires first', () => {
    const h = new ReplayHarness(fn, { crossCheck: true });
    const timer = h.turn().result.actions[0];
    assert.ok(timer?.kind === 'CreateTimer');
    h.turn([h.fired(timer.taskId)]);
    const done = h.turn([h.completed(h.only('ScheduleTask', 'After').taskId, 'after')]);
    assert.deepEqual(outputOf(done), { winner: 'timer', value: null, canceled: false, after: 'after' });
  });

  it('takes the first to complete when both arrive in the same turn', () => {
    const h = new ReplayHarness(fn);
    const timer = h.turn().result.actions[0];
    assert.ok(timer?.kind === 'CreateTimer');
    h.turn([h.fired(timer.taskId), h.raised('Approval', 'too late')]);
    const done = h.turn([h.completed(h.only('ScheduleTask', 'After').taskId, 'after')]);
    assert.equal((outputOf(done) as { winner: string }).winner, 'timer');
  });
});

describe('a task in more than one Task.any', () => {
  it('lets one deadline timer be reused by a Task.any in every round of a loop (as Durable Functions does)', () => {
    const fn: Orchestrator = function* (context) {
      const deadline = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60_000));
      const items: unknown[] = [];
      for (;;) {
        const item = context.df.waitForExternalEvent('Item');
        const winner: Task = yield context.df.Task.any([item, deadline]);
        if (winner === deadline) return items;
        items.push(item.result);
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    const deadline = h.turn().result.actions[0];
    assert.ok(deadline?.kind === 'CreateTimer');
    for (const value of ['a', 'b', 'c']) {
      const turn = h.turn([h.raised('Item', value)]);
      assert.equal(turn.result.completion, undefined, `round ${value} goes on`);
      assert.deepEqual(turn.result.actions, [], 'no new timer per round');
    }
    assert.deepEqual(outputOf(h.turn([h.fired(deadline.taskId)])), ['a', 'b', 'c']);
  });

  it('refuses a pending task in two pending composites, with a clear error', () => {
    const fn: Orchestrator = function* (context) {
      const shared = context.df.callActivity('Shared');
      const all = context.df.Task.all([shared, context.df.callActivity('Other')]);
      yield context.df.Task.any([shared, all]);
      return 'unreachable';
    };
    const failure = failureOf(new ReplayHarness(fn).turn());
    assert.match(failure.message, /a pending task can be part of only one pending Task\.all \/ Task\.any/);
  });
});

describe('external events', () => {
  it('delivers events that arrived before the wait, in arrival order, with names compared case-insensitively', () => {
    const fn: Orchestrator = function* (context) {
      yield context.df.callActivity('First');
      const a: unknown = yield context.df.waitForExternalEvent('Data');
      const other: unknown = yield context.df.waitForExternalEvent('Other');
      const b: unknown = yield context.df.waitForExternalEvent('data');
      const c: unknown = yield context.df.waitForExternalEvent('DATA');
      return [a, b, c, other];
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    const first = h.turn().result.actions[0];
    assert.ok(first);
    const buffered = h.turn([h.raised('DATA', 1), h.raised('other', 'x'), h.raised('data', 2)]);
    assert.equal(buffered.recorded.filter((e) => e.type === 'EventRaised').length, 3, 'buffered events are recorded');
    assert.equal(buffered.result.completion, undefined);
    const waiting = h.turn([h.completed(first.taskId)]);
    assert.equal(waiting.result.completion, undefined, 'the third Data event has not arrived yet');
    const done = h.turn([h.raised('Data', 3)]);
    assert.deepEqual(outputOf(done), [1, 2, 3, 'x']);
  });
});

describe('failures are data', () => {
  it('rethrows a failed activity as TaskFailedError carrying the failure, which the orchestrator can handle', () => {
    const fn: Orchestrator = function* (context) {
      try {
        yield context.df.callActivity('Charge', 10);
        return 'charged';
      } catch (err) {
        assert.ok(err instanceof TaskFailedError);
        const refund: string = yield context.df.callActivity('Compensate', err.failure.type);
        return { name: err.name, taskName: err.taskName, type: err.failure.type, message: err.failure.message, refund };
      }
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    const charge = h.turn().result.actions[0];
    assert.ok(charge);
    const compensating = h.turn([h.failed(charge.taskId, { type: 'CardDeclined', message: 'insufficient funds', details: 'stack…' })]);
    const compensate = compensating.result.actions[0];
    assert.ok(compensate?.kind === 'ScheduleTask');
    assert.equal(compensate.name, 'Compensate');
    assert.equal(parse(compensate.input), 'CardDeclined');
    const done = h.turn([h.completed(compensate.taskId, 'refunded')]);
    assert.deepEqual(outputOf(done), {
      name: 'TaskFailedError',
      taskName: 'Charge',
      type: 'CardDeclined',
      message: 'insufficient funds',
      refund: 'refunded',
    });
  });

  it('fails the execution with the detail of an uncaught activity failure', () => {
    const fn: Orchestrator = function* (context) {
      return yield context.df.callActivity('Charge', 10);
    };
    const h = new ReplayHarness(fn);
    const charge = h.turn().result.actions[0];
    assert.ok(charge);
    const failure = failureOf(h.turn([h.failed(charge.taskId, { type: 'CardDeclined', message: 'insufficient funds' })]));
    assert.equal(failure.type, 'TaskFailedError');
    assert.match(failure.message, /'Charge'/);
    assert.match(failure.message, /insufficient funds/);
    const closing = h.history.at(-1);
    assert.ok(closing?.type === 'ExecutionCompleted' && closing.status === 'Failed');
  });

  it('fails the execution with the type and message of an error the orchestrator throws', () => {
    class OutOfStock extends Error {
      override name = 'OutOfStock';
    }
    // eslint-disable-next-line require-yield
    const fn: Orchestrator = function* () {
      throw new OutOfStock('no widgets left');
    };
    const failure = failureOf(new ReplayHarness(fn).turn());
    assert.equal(failure.type, 'OutOfStock');
    assert.equal(failure.message, 'no widgets left');
  });
});

describe('completions that do not fit', () => {
  const fn: Orchestrator = function* (context) {
    const a: unknown = yield context.df.callActivity('A');
    const b: unknown = yield context.df.callActivity('B');
    return [a, b];
  };

  it('drops a duplicate completion of a completed task (not accepted, so not recorded twice)', () => {
    const h = new ReplayHarness(fn, { crossCheck: true });
    const a = h.turn().result.actions[0];
    assert.ok(a);
    const first = h.completed(a.taskId, 'a');
    const again = h.completed(a.taskId, 'a again');
    const turn = h.turn([first, again]);
    assert.deepEqual(turn.accepted.filter((e) => e.type === 'TaskCompleted'), [first]);
    const b = h.only('ScheduleTask', 'B');
    const late = h.turn([h.completed(a.taskId, 'a a third time')]);
    assert.deepEqual(late.accepted.map((e) => e.type), ['OrchestratorStarted']);
    assert.deepEqual(late.recorded, [], 'a turn with only a duplicate records nothing');
    assert.deepEqual(outputOf(h.turn([h.completed(b.taskId, 'b')])), ['a', 'b']);
  });

  it('drops a completion for a task never scheduled when it arrives as a new event', () => {
    const h = new ReplayHarness(fn, { crossCheck: true });
    h.turn();
    const stray = h.completed(42, 'stray');
    const turn = h.turn([stray]);
    assert.ok(!turn.accepted.includes(stray));
    assert.equal(turn.result.completion, undefined);
  });

  it('rejects a completion for a task never scheduled in recorded history (NonDeterminismError)', () => {
    const h = new ReplayHarness(fn);
    h.turn();
    const history: HistoryEvent[] = [...h.history, { type: 'OrchestratorStarted', timestamp: h.nextAt }, h.completed(42, 'stray')];
    assert.throws(
      () => new ReplayHarness(fn, { history }).turn(),
      (err: unknown) => err instanceof NonDeterminismError && /task 42/.test(err.message),
    );
  });
});

describe('orchestrators that break the rules', () => {
  it('fails with a clear TypeError when the orchestrator yields something that is not a task', () => {
    const fn = function* () {
      yield Promise.resolve(1);
      return 'unreachable';
    } as unknown as Orchestrator;
    const failure = failureOf(new ReplayHarness(fn, { name: 'YieldsPromise' }).turn());
    assert.equal(failure.type, 'TypeError');
    assert.match(failure.message, /'YieldsPromise' yielded something that is not a task/);
  });

  it('fails when the orchestrator is not a generator function', () => {
    for (const fn of [() => 'plain', async () => 'async']) {
      const failure = failureOf(new ReplayHarness(fn as unknown as Orchestrator, { name: 'NotAGenerator' }).turn());
      assert.equal(failure.type, 'TypeError');
      assert.match(failure.message, /'NotAGenerator' must be a generator function/);
    }
  });
});

/** Sub-orchestrations and continueAsNew under replay. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import { TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import type { Completion } from '../../src/orchestrator/core/executor.ts';
import { outputOf, parse, ReplayHarness } from '../helpers/replay-harness.ts';

describe('sub-orchestrations', () => {
  const fn: Orchestrator = function* (context) {
    const before: string = yield context.df.callActivity('Prepare');
    const results: unknown[] = yield context.df.Task.all([
      context.df.callSubOrchestrator('Child', { part: 1, before }),
      context.df.callSubOrchestrator('Child', { part: 2, before }, 'explicit-child'),
    ]);
    try {
      yield context.df.callSubOrchestrator('Child', { part: 3 });
      return { results, third: 'succeeded' };
    } catch (err) {
      assert.ok(err instanceof TaskFailedError);
      return { results, third: err.message, type: err.failure.type };
    }
  };

  it('starts children under `${instanceId}:${taskId}` or the given id; results and failures flow back', () => {
    const h = new ReplayHarness(fn, { instanceId: 'order-7', parentInstanceId: 'grandparent', crossCheck: true });
    const prepare = h.turn().result.actions[0];
    assert.ok(prepare);
    const { actions } = h.turn([h.completed(prepare.taskId, 'prepared')]).result;
    assert.equal(actions.length, 2);
    const [first, second] = actions;
    assert.ok(first?.kind === 'CreateSubOrchestration' && second?.kind === 'CreateSubOrchestration');
    assert.equal(first.instanceId, `order-7:${first.taskId}`);
    assert.notEqual(first.taskId, 0, 'the id uses the task id, not a count of children');
    assert.equal(second.instanceId, 'explicit-child');
    assert.equal(first.name, 'Child');
    assert.deepEqual(parse(first.input), { part: 1, before: 'prepared' });
    assert.deepEqual(parse(second.input), { part: 2, before: 'prepared' });

    const third = h.turn([h.subCompleted(second.taskId, 'two'), h.subCompleted(first.taskId, 'one')]).result.actions[0];
    assert.ok(third?.kind === 'CreateSubOrchestration');
    assert.equal(third.instanceId, `order-7:${third.taskId}`);
    const done = h.turn([h.subFailed(third.taskId, { type: 'ChildBroke', message: 'child went wrong' })]);
    assert.deepEqual(outputOf(done), {
      results: ['one', 'two'],
      third: "Orchestrator function 'Child' failed: child went wrong",
      type: 'ChildBroke',
    });
  });

  it('gives the orchestrator its parent instance id', () => {
    // eslint-disable-next-line require-yield
    const child: Orchestrator = function* (context) {
      return context.df.parentInstanceId ?? null;
    };
    assert.equal(outputOf(new ReplayHarness(child, { parentInstanceId: 'the-parent' }).turn()), 'the-parent');
  });
});

type ContinuedAsNew = Extract<Completion, { status: 'ContinuedAsNew' }>;

function continued(completion: Completion | undefined): ContinuedAsNew {
  assert.equal(completion?.status, 'ContinuedAsNew', `expected ContinuedAsNew, got ${JSON.stringify(completion)}`);
  return completion as ContinuedAsNew;
}

const carried = (c: ContinuedAsNew): Array<[string, unknown]> => c.carryOver.map((e) => [e.name, parse(e.payload)]);

describe('continueAsNew', () => {
  /** An eternal counter: adds each 'add' event and continues as new with the sum. */
  const counter: Orchestrator = function* (context) {
    const total = context.df.getInput<number>();
    context.df.setCustomStatus({ total });
    const add: number = yield context.df.waitForExternalEvent('add');
    context.df.continueAsNew(total + add);
    return undefined;
  };

  it('ends the execution with status ContinuedAsNew and the new input, and no actions', () => {
    const h = new ReplayHarness(counter, { input: 10, crossCheck: true });
    h.turn();
    const turn = h.turn([h.raised('add', 5)]);
    assert.deepEqual(turn.result.actions, []);
    const c = continued(turn.result.completion);
    assert.equal(parse(c.input), 15);
    assert.deepEqual(c.carryOver, []);
    assert.deepEqual(parse(turn.result.customStatus), { total: 10 });
  });

  it('carries over the events raised in the same turn after it continued as new, in arrival order', () => {
    const h = new ReplayHarness(counter, { input: 0, crossCheck: true });
    h.turn();
    const turn = h.turn([h.raised('add', 1), h.raised('other', 'x'), h.raised('ADD', 2)]);
    const c = continued(turn.result.completion);
    assert.equal(parse(c.input), 1);
    assert.deepEqual(carried(c), [['other', 'x'], ['ADD', 2]], 'no event may be lost between executions');
  });

  it('carries over buffered events nobody waited for, in arrival order across names', () => {
    const fn: Orchestrator = function* (context) {
      yield context.df.callActivity('Work');
      const first: unknown = yield context.df.waitForExternalEvent('b');
      context.df.continueAsNew(first);
      return undefined;
    };
    const h = new ReplayHarness(fn, { crossCheck: true });
    const work = h.turn().result.actions[0];
    assert.ok(work);
    h.turn([h.raised('b', 1), h.raised('a', 2), h.raised('b', 3), h.raised('c', 4), h.raised('a', 5)]);
    const c = continued(h.turn([h.completed(work.taskId)]).result.completion);
    assert.equal(parse(c.input), 1);
    assert.deepEqual(carried(c), [['a', 2], ['b', 3], ['c', 4], ['a', 5]]);
  });

  it('lets the next execution consume the carried-over events as if they had just arrived', () => {
    let h = new ReplayHarness(counter, { input: 0, crossCheck: true });
    h.turn();
    let turn = h.turn([h.raised('add', 1), h.raised('add', 2), h.raised('add', 3)]);
    const totals: unknown[] = [];
    for (;;) {
      const c = continued(turn.result.completion);
      totals.push(parse(c.input));
      if (c.carryOver.length === 0) break;
      h = new ReplayHarness(counter, { input: parse(c.input), crossCheck: true });
      turn = h.turn(c.carryOver);
    }
    assert.deepEqual(totals, [1, 3, 6], 'every add is counted once');
  });
});

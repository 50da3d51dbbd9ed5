/**
 * Incremental vs from-scratch equivalence. The runner keeps executors in a cache and continues a
 * cached one with the next turn's events (after `confirmActions()`), instead of replaying the whole
 * history. That is only correct if both ways give the same answer at every turn. Each scenario runs
 * twice in lockstep with the same deliveries: one harness keeps one executor alive (and also checks
 * each turn against a fresh replay of its history: `crossCheck`), the other replays from scratch at
 * every turn. Actions, completions, custom status, accepted events, logs and the recorded histories
 * must be identical. Delivery order is varied by seed; duplicate deliveries are mixed in.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { registerExamples } from '../../src/examples/index.ts';
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import type { TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { RetryOptions, type Task } from '../../src/orchestrator/core/tasks.ts';
import { type AutoPilot, autoPilot, type HarnessOptions, ReplayHarness, withoutStacks } from '../helpers/replay-harness.ts';

const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

function lockstep(fn: Orchestrator, options: HarnessOptions, pilot: AutoPilot): { turns: number; harness: ReplayHarness } {
  const incremental = new ReplayHarness(fn, { ...options, mode: 'incremental', crossCheck: true });
  const scratch = new ReplayHarness(fn, { ...options, mode: 'scratch' });
  const drive = autoPilot(pilot);
  let messages: HistoryEvent[] | undefined = [];
  let turns = 0;
  while (messages !== undefined && incremental.completion === undefined) {
    assert.ok(turns < 300, 'the scenario should end');
    const a = incremental.turn(messages);
    const b = scratch.turn(messages);
    assert.deepEqual(withoutStacks(a), withoutStacks(b), `seed ${pilot.seed}, turn ${turns}: incremental and from-scratch results differ`);
    turns++;
    messages = incremental.completion === undefined ? drive(incremental) : undefined;
  }
  assert.notEqual(incremental.completion, undefined, `seed ${pilot.seed}: the orchestration ended`);
  assert.deepEqual(withoutStacks(incremental.completion), withoutStacks(scratch.completion));
  assert.deepEqual(withoutStacks(incremental.history), withoutStacks(scratch.history));
  return { turns, harness: incremental };
}

const activities: AutoPilot['activities'] = {
  Square: (n) => (n as number) ** 2,
  Add: (p) => (p as { x: number; y: number }).x + (p as { x: number; y: number }).y,
  Echo: (x) => x,
  Record: (x) => `recorded ${JSON.stringify(x)}`,
  // Fails on the first two attempts of each input.
  Flaky: (x, attempt) => {
    if (attempt <= 2) throw new Error(`Flaky(${JSON.stringify(x)}) attempt ${attempt} failed`);
    return `ok ${JSON.stringify(x)}`;
  },
  Broken: () => {
    throw new TypeError('always broken');
  },
};

const scenarios: Record<string, { fn: Orchestrator; options?: HarnessOptions; pilot: Omit<AutoPilot, 'seed'> }> = {
  'sequence, fan-out, timer, custom status, guid, time and logs': {
    fn: function* (context) {
      context.df.setCustomStatus('starting');
      const id = context.df.newGuid();
      const a: number = yield context.df.callActivity('Add', { x: 1, y: 2 });
      context.log(`added ${a}`);
      const squares: number[] = yield context.df.Task.all([1, 2, 3, 4, 5, 6].map((n) => context.df.callActivity<number>('Square', n)));
      context.df.setCustomStatus({ squares: squares.length });
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 5_000));
      context.log('timer fired');
      const echo: unknown = yield context.df.callActivity('Echo', { id, again: context.df.newGuid(), at: context.df.currentUtcDateTime.toISOString() });
      return { a, squares, echo };
    },
    pilot: { activities },
  },
  'Task.any over events and timers, with cancellation and buffered events': {
    fn: function* (context) {
      const outcomes: unknown[] = [];
      for (let round = 0; round < 3; round++) {
        const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 10_000));
        const approval = context.df.waitForExternalEvent('Approve');
        const winner: Task = yield context.df.Task.any([approval, timer]);
        if (winner === approval) timer.cancel();
        outcomes.push(winner === approval ? approval.result : 'timeout');
        yield context.df.callActivity('Record', outcomes.at(-1));
      }
      const extra: unknown = yield context.df.waitForExternalEvent('extra');
      return { outcomes, extra };
    },
    pilot: { activities, events: [['approve', 'a1'], ['Approve', 'a2'], ['Extra', 'e'], ['APPROVE', 'a3']] },
  },
  'retries in parallel, failures caught, sub-orchestrations': {
    fn: function* (context) {
      const retry = new RetryOptions(1000, 3);
      retry.backoffCoefficient = 3;
      const results: unknown[] = yield context.df.Task.all([
        context.df.callActivityWithRetry('Flaky', retry, 'p'),
        context.df.callActivityWithRetry('Flaky', retry, 'q'),
        context.df.callSubOrchestratorWithRetry('Child', retry, 'c'),
        context.df.callSubOrchestrator('Child', 'd', 'fixed-child'),
      ]);
      let caught = '';
      try {
        yield context.df.callActivityWithRetry('Broken', new RetryOptions(500, 2));
      } catch (err) {
        caught = (err as TaskFailedError).failure.message;
      }
      return { results, caught };
    },
    options: { instanceId: 'parent' },
    pilot: {
      activities,
      children: {
        Child: (input, attempt) => {
          if (input === 'c' && attempt === 1) throw new Error('child failed once');
          return `child ${JSON.stringify(input)}`;
        },
      },
    },
  },
  'a deadline timer reused across rounds of Task.any, then an uncaught failure': {
    fn: function* (context) {
      const deadline = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 30_000));
      const items: unknown[] = [];
      for (;;) {
        const item = context.df.waitForExternalEvent('item');
        const winner: Task = yield context.df.Task.any([item, deadline]);
        if (winner === deadline) break;
        items.push(item.result);
      }
      return yield context.df.callActivity('Broken', items);
    },
    pilot: { activities, events: [['item', 1], ['item', 2], ['item', 3], ['item', 4]] },
  },
  'continueAsNew with events arriving around it': {
    fn: function* (context) {
      const total = context.df.getInput<number>();
      yield context.df.callActivity('Echo', total);
      const add: number = yield context.df.waitForExternalEvent('add');
      context.df.continueAsNew(total + add);
      return undefined;
    },
    options: { input: 0 },
    pilot: { activities, events: [['add', 1], ['other', 'x'], ['add', 2], ['add', 3]] },
  },
};

describe('incremental and from-scratch replay agree', () => {
  for (const [title, scenario] of Object.entries(scenarios)) {
    it(title, () => {
      for (const seed of SEEDS) {
        const { turns } = lockstep(scenario.fn, scenario.options ?? {}, { ...scenario.pilot, seed });
        assert.ok(turns >= 2, 'the scenario takes several turns');
      }
    });
  }

  it('for the shipped examples', () => {
    const registry = registerExamples(new Registry());
    const examples: Array<[string, unknown, Omit<AutoPilot, 'seed'>]> = [
      ['HelloSequence', undefined, { activities: { SayHello: (name) => `Hello ${name}!` } }],
      ['FanOutFanIn', { count: 7 }, { activities }],
      ['Approval', { timeoutSeconds: 30 }, { events: [['Approval', true]] }],
      ['RetryDemo', undefined, { activities: { FailTwice: (_x, attempt) => (attempt <= 2 ? activities.Broken?.(0, 0) : attempt) } }],
      ['ParentOfHello', undefined, { children: { HelloSequence: () => ['Hello Tokyo!'] } }],
    ];
    for (const [name, input, pilot] of examples) {
      const registered = registry.getOrchestration(name);
      assert.ok(registered, name);
      for (const seed of SEEDS) lockstep(registered.fn, { name, input }, { ...pilot, seed });
    }
  });
});

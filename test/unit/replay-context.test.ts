/**
 * What the orchestration context answers from replayed state: custom status, the turn's recorded
 * time, name-based guids, isReplaying and replay-safe logging.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OrchestrationContext, Orchestrator } from '../../src/orchestrator/core/context.ts';
import { outputOf, parse, ReplayHarness } from '../helpers/replay-harness.ts';

describe('custom status, time and ids', () => {
  it('reports the latest custom status, also when replayed from scratch', () => {
    const fn: Orchestrator = function* (context) {
      context.df.setCustomStatus({ stage: 'one' });
      yield context.df.callActivity('A');
      context.df.setCustomStatus({ stage: 'two' });
      yield context.df.callActivity('B');
      return null;
    };
    const h = new ReplayHarness(fn, { mode: 'scratch' });
    const first = h.turn();
    assert.deepEqual(parse(first.result.customStatus), { stage: 'one' });
    const second = h.turn([h.completed(h.only('ScheduleTask', 'A').taskId)]);
    assert.deepEqual(parse(second.result.customStatus), { stage: 'two' });
    const idle = h.turn([]);
    assert.deepEqual(parse(idle.result.customStatus), { stage: 'two' }, 'a replay from scratch restores it');
  });

  it('gives currentUtcDateTime the OrchestratorStarted time of each turn, on replay too', () => {
    const fn: Orchestrator = function* (context) {
      const seen: string[] = [];
      for (let i = 0; i < 3; i++) {
        seen.push(context.df.currentUtcDateTime.toISOString());
        yield context.df.callActivity('Step', seen.at(-1));
      }
      return seen;
    };
    const h = new ReplayHarness(fn, { mode: 'scratch', stepMs: 7_777 });
    const times = [h.turn().at];
    for (let i = 0; i < 2; i++) {
      const step = h.only('ScheduleTask', 'Step');
      assert.equal(parse(step.kind === 'ScheduleTask' ? step.input : undefined), times.at(-1));
      times.push(h.turn([h.completed(step.taskId)]).at);
    }
    const done = h.turn([h.completed(h.only('ScheduleTask', 'Step').taskId)]);
    assert.deepEqual(outputOf(done), times, 'each value is its own turn time, unchanged by the final replay');
    const started = h.history.filter((e) => e.type === 'OrchestratorStarted').map((e) => e.timestamp);
    assert.deepEqual(started.slice(0, 3), times);
  });

  it('makes newGuid deterministic across replays and different across calls', () => {
    const fn: Orchestrator = function* (context) {
      const first = [context.df.newGuid(), context.df.newGuid()];
      yield context.df.callActivity('Use', first);
      const second = context.df.newGuid();
      yield context.df.callActivity('Use', second);
      return [...first, second, context.df.newGuid()];
    };
    const uuidV5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const run = (instanceId: string): string[] => {
      const h = new ReplayHarness(fn, { instanceId, mode: 'scratch' });
      h.turn();
      h.turn([h.completed(h.only('ScheduleTask', 'Use').taskId)]);
      const done = h.turn([h.completed(h.only('ScheduleTask', 'Use').taskId)]);
      const guids = outputOf(done) as string[];
      const recorded = h.history.flatMap((e) => (e.type === 'TaskScheduled' ? [parse(e.payload)] : []));
      assert.deepEqual(recorded, [guids.slice(0, 2), guids[2]], 'the replayed calls return what the first run recorded');
      return guids;
    };
    const guids = run('instance-a');
    for (const g of guids) assert.match(g, uuidV5);
    assert.equal(new Set(guids).size, guids.length, 'every call gives a new id');
    assert.deepEqual(run('instance-a'), guids, 'the same history gives the same ids');
    const other = run('instance-b');
    assert.equal(other.filter((g) => guids.includes(g)).length, 0, 'another instance gets other ids');
  });

  it('isReplaying is true while recorded history replays and false for new events; logs only when not replaying', () => {
    const seen: boolean[] = [];
    const fn: Orchestrator = function* (context: OrchestrationContext) {
      for (let i = 0; i < 3; i++) {
        seen.push(context.df.isReplaying);
        context.log(`step ${i}`);
        yield context.df.callActivity('Step', i);
      }
      return null;
    };
    const scratch = new ReplayHarness(fn, { mode: 'scratch' });
    seen.length = 0;
    assert.deepEqual(scratch.turn().logs, ['step 0']);
    assert.deepEqual(seen, [false]);
    seen.length = 0;
    assert.deepEqual(scratch.turn([scratch.completed(scratch.only('ScheduleTask').taskId)]).logs, ['step 1']);
    assert.deepEqual(seen, [true, false]);
    seen.length = 0;
    assert.deepEqual(scratch.turn([scratch.completed(scratch.only('ScheduleTask').taskId)]).logs, ['step 2']);
    assert.deepEqual(seen, [true, true, false]);

    const incremental = new ReplayHarness(fn, { mode: 'incremental' });
    seen.length = 0;
    incremental.turn();
    incremental.turn([incremental.completed(incremental.only('ScheduleTask').taskId)]);
    assert.deepEqual(seen, [false, false], 'a kept executor never replays');
  });
});

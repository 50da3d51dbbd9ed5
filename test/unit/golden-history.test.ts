/**
 * Golden-history replay tests (as Temporal's replay tests): the histories in test/fixtures/golden/
 * were recorded once by scripts/record-golden.ts from the shipped examples, and stand for instances
 * already running in production. Today's code must replay each of them from scratch, turn by turn,
 * taking exactly the recorded actions and reaching exactly the recorded completion.
 *
 * A FAILING GOLDEN TEST MEANS A CODE CHANGE WOULD BREAK RUNNING INSTANCES: after a deploy, an
 * instance started by the old code would fail with a NonDeterminismError (or do something other
 * than what it recorded). Do not re-record the file to make the test pass; keep the old behaviour
 * for old histories (e.g. a new orchestration name, or branching on a version input), and re-record
 * only when breaking running instances is deliberate and planned.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { registerExamples } from '../../src/examples/index.ts';
import { fromJson, type EventOf, type HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { Executor } from '../../src/orchestrator/core/executor.ts';
import { eventToAction, GOLDEN_INSTANCE_ID, outputOf, recordedCompletion, splitTurns } from '../helpers/replay-harness.ts';

const dir = path.resolve(import.meta.dirname, '../fixtures/golden');
const registry = registerExamples(new Registry());

/** What each golden history must say, worked out independently of the engine. */
const expectedOutputs: Record<string, unknown> = {
  HelloSequence: ['Tokyo', 'Seattle', 'London'].map((city) => `Hello ${city}!`),
  FanOutFanIn: [1, 2, 3, 4, 5].reduce((sum, n) => sum + n * n, 0),
  'Approval-approved': 'approved',
  'Approval-timed-out': 'timed out',
  RetryDemo: 3, // FailTwice succeeds on its third attempt and returns the attempt number
};

function load(file: string): HistoryEvent[] {
  return JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as HistoryEvent[];
}

function executorFor(history: readonly HistoryEvent[]): Executor {
  const started = history.find((e): e is EventOf<'ExecutionStarted'> => e.type === 'ExecutionStarted');
  assert.ok(started, 'a golden history starts its execution');
  const registered = registry.getOrchestration(started.name);
  assert.ok(registered, `orchestration '${started.name}' is registered`);
  return new Executor(registered.fn, { instanceId: GOLDEN_INSTANCE_ID, name: started.name, parentInstanceId: started.parentInstanceId });
}

const isAction = (e: HistoryEvent): boolean => eventToAction(e) !== undefined;
const signature = (a: { taskId: number; kind: string; name?: string }): string => `${a.taskId}:${a.kind}:${a.name ?? ''}`;

describe('golden histories replay with today’s code', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

  it('holds a golden history for each scenario', () => {
    assert.deepEqual(files.map((f) => f.replace(/\.json$/, '')), Object.keys(expectedOutputs).sort());
  });

  for (const file of files) {
    const scenario = file.replace(/\.json$/, '');

    it(`${scenario}: replaying the whole history reproduces the recorded completion`, () => {
      const history = load(file);
      const closing = history.at(-1);
      assert.ok(closing?.type === 'ExecutionCompleted', 'a golden history ends with its completion');
      const executor = executorFor(history);
      executor.replay(history);
      const { result } = executor.apply([]);
      assert.deepEqual(result.completion, recordedCompletion(closing));
      assert.deepEqual(result.actions, []);
      assert.deepEqual(outputOf(result.completion), expectedOutputs[scenario], 'the recorded output is the right one');
    });

    it(`${scenario}: every turn replays to exactly the recorded actions, and no new ones`, () => {
      const history = load(file);
      const turns = splitTurns(history);
      assert.ok(turns.length >= 2);
      let before: HistoryEvent[] = [];
      for (const [i, turn] of turns.entries()) {
        const inbound = turn.filter((e) => !isAction(e) && e.type !== 'ExecutionCompleted');
        const recordedActions = turn.flatMap((e) => eventToAction(e) ?? []);
        const closing = turn.find((e): e is EventOf<'ExecutionCompleted'> => e.type === 'ExecutionCompleted');
        const executor = executorFor(history);
        executor.replay(before);
        const { accepted, result } = executor.apply(inbound);
        assert.deepEqual(accepted, inbound, `turn ${i}: every recorded event is taken`);
        assert.deepEqual(
          result.actions.map(signature),
          recordedActions.map(signature),
          `turn ${i}: the actions differ in kind, name or task id: running instances would break`,
        );
        assert.deepEqual(result.actions, recordedActions, `turn ${i}: same actions, but with other inputs or fire times`);
        assert.deepEqual(result.completion, closing ? recordedCompletion(closing) : undefined, `turn ${i}: completion`);
        before = [...before, ...turn];
      }
    });
  }

  it('RetryDemo waited the backoff delays its retry options give (100 ms, then 200 ms)', () => {
    const history = load('RetryDemo.json');
    const delays = history.flatMap((e) => (e.type === 'TimerCreated' ? [Date.parse(e.fireAt) - Date.parse(e.timestamp)] : []));
    const first = 100;
    const coefficient = 2;
    assert.deepEqual(delays, [first, first * coefficient]);
    const attempts = history.filter((e) => e.type === 'TaskScheduled' && e.name === 'FailTwice');
    assert.equal(attempts.length, 3);
  });

  it('Approval-approved recorded the approval event; Approval-timed-out its timer firing', () => {
    const approved = load('Approval-approved.json');
    assert.ok(approved.some((e) => e.type === 'EventRaised' && e.name === 'Approval' && fromJson(e.payload) === true));
    const timedOut = load('Approval-timed-out.json');
    const timer = timedOut.find((e) => e.type === 'TimerCreated');
    assert.ok(timer?.type === 'TimerCreated');
    assert.equal(Date.parse(timer.fireAt) - Date.parse(timer.timestamp), 60_000, 'the 60 s timeout of the input');
    assert.ok(timedOut.some((e) => e.type === 'TimerFired' && e.taskId === timer.taskId));
  });
});

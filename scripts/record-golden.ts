/**
 * Records the golden histories in test/fixtures/golden/ by driving the shipped example orchestrations
 * through the pure replay harness (no database): one JSON array of HistoryEvent per scenario, as the
 * runner would store it.
 *
 * Run ONCE per scenario: the files are the record of what older code did, and
 * test/unit/golden-history.test.ts checks that today's code still replays them. Existing files are
 * left alone; `--overwrite` re-records them, which is only right when an incompatible change is
 * deliberate (running instances of the old code will then fail with a NonDeterminismError).
 *
 *   node --experimental-strip-types scripts/record-golden.ts [--overwrite]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { invocationFields } from '../src/activities/invocation.ts';
import { createLogger } from '../src/log.ts';
import type { ActivityContext } from '../src/orchestrator/core/activity-context.ts';
import { registerExamples } from '../src/examples/index.ts';
import type { HistoryEvent } from '../src/orchestrator/core/history.ts';
import { Registry } from '../src/orchestrator/registry.ts';
import { GOLDEN_INSTANCE_ID, ReplayHarness } from '../test/helpers/replay-harness.ts';

const registry = registerExamples(new Registry());
const dir = path.resolve(import.meta.dirname, '../test/fixtures/golden');
const overwrite = process.argv.includes('--overwrite');

function harness(name: string, input?: unknown): ReplayHarness {
  const registered = registry.getOrchestration(name);
  if (registered === undefined) throw new Error(`no example orchestration '${name}'`);
  return new ReplayHarness(registered.fn, { instanceId: GOLDEN_INSTANCE_ID, name: registered.name, input });
}

/** Runs a registered example activity (only the pure ones: SayHello, Square). */
async function runActivity(name: string, input: string | undefined, taskId: number): Promise<unknown> {
  const activity = registry.getActivity(name);
  if (activity === undefined) throw new Error(`no example activity '${name}'`);
  const context: ActivityContext = {
    instanceId: GOLDEN_INSTANCE_ID,
    name,
    task: { instanceId: GOLDEN_INSTANCE_ID, executionId: 'golden-execution', taskId },
    idempotencyKey: `${GOLDEN_INSTANCE_ID}:golden-execution:${taskId}`,
    attempt: 0,
    signal: new AbortController().signal,
    ...invocationFields(createLogger('silent'), name, GOLDEN_INSTANCE_ID),
  };
  return activity.fn(input === undefined ? undefined : JSON.parse(input), context);
}

/** Completes the given pending activities with the real activity's result. */
async function complete(h: ReplayHarness, taskIds: number[]): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for (const taskId of taskIds) {
    const action = h.pending.get(taskId);
    if (action?.kind !== 'ScheduleTask') throw new Error(`task ${taskId} is not a pending activity`);
    events.push(h.completed(taskId, await runActivity(action.name, action.input, taskId)));
  }
  return events;
}

const scenarios: Record<string, () => Promise<ReplayHarness>> = {
  async HelloSequence() {
    const h = harness('HelloSequence');
    h.turn();
    while (h.completion === undefined) h.turn(await complete(h, [h.only('ScheduleTask', 'SayHello').taskId]));
    return h;
  },

  async FanOutFanIn() {
    const h = harness('FanOutFanIn', { count: 5 });
    const ids = h.turn().result.actions.map((a) => a.taskId);
    // Results arrive out of order, over two turns.
    h.turn(await complete(h, [ids[3], ids[0]] as number[]));
    h.turn(await complete(h, [ids[4], ids[2], ids[1]] as number[]));
    return h;
  },

  async 'Approval-approved'() {
    const h = harness('Approval', { timeoutSeconds: 60 });
    h.turn();
    h.turn([h.raised('Approval', true)]);
    return h;
  },

  async 'Approval-timed-out'() {
    const h = harness('Approval', { timeoutSeconds: 60 });
    h.turn();
    h.turn([h.fired(h.only('CreateTimer').taskId)]);
    return h;
  },

  async RetryDemo() {
    // FailTwice needs a database; its behaviour is scripted here: attempts 1 and 2 fail, 3 returns 3.
    const h = harness('RetryDemo');
    h.turn();
    for (let attempt = 1; h.completion === undefined; attempt++) {
      const task = h.only('ScheduleTask', 'FailTwice');
      if (attempt <= 2) {
        h.turn([h.failed(task.taskId, { type: 'Error', message: `FailTwice fails on attempt ${attempt}` })]);
        h.turn([h.fired(h.only('CreateTimer').taskId)]);
      } else {
        h.turn([h.completed(task.taskId, attempt)]);
      }
    }
    return h;
  },
};

mkdirSync(dir, { recursive: true });
for (const [name, record] of Object.entries(scenarios)) {
  const file = path.join(dir, `${name}.json`);
  if (existsSync(file) && !overwrite) {
    process.stdout.write(`kept     ${path.relative(process.cwd(), file)} (golden files are recorded once; --overwrite to re-record)\n`);
    continue;
  }
  const h = await record();
  if (h.completion === undefined || h.history.at(-1)?.type !== 'ExecutionCompleted') throw new Error(`${name} did not complete`);
  writeFileSync(file, `${JSON.stringify(h.history, null, 2)}\n`);
  process.stdout.write(`recorded ${path.relative(process.cwd(), file)} (${h.history.length} events)\n`);
}

/**
 * Activity slots and timeouts on real Postgres and pg-boss (issue 12, test 1): 150 activities that
 * never resolve and ignore their abort signal hold 150 of the worker's 200 slots, and 1,000 normal
 * activities on the same worker still all complete. The hung ones then fail by timeout
 * (ActivityTimeout): retried where the orchestration's policy says so (and then succeed, with the
 * same idempotency key and a counted attempt), failing their instance where it does not. A late
 * result of an abandoned attempt is recorded nowhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from '../../src/orchestrator/registry.ts';
import { RetryOptions } from '../../src/orchestrator/core/tasks.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

const HUNG = 150;
const NORMAL = 1000;
/** Long enough that the normal fan-out finishes while the hung attempts still hold their slots. */
const HANG_TIMEOUT_SECONDS = 20;

/** What each attempt of a hung call saw, by instance: its idempotency key and attempt number. */
const seen = new Map<string, Array<{ key: string; attempt: number; aborted: () => boolean }>>();

function registry(): Registry {
  return new Registry()
    .activity('Hang', { timeoutSeconds: HANG_TIMEOUT_SECONDS }, (input: { recoverOnAttempt: number | null }, context) => {
      const list = seen.get(context.instanceId) ?? [];
      list.push({ key: context.idempotencyKey, attempt: context.attempt, aborted: () => context.signal.aborted });
      seen.set(context.instanceId, list);
      if (input.recoverOnAttempt !== null && context.attempt >= input.recoverOnAttempt) return `recovered on attempt ${context.attempt}`;
      return new Promise(() => undefined); // never settles, ignores its signal
    })
    .orchestration('HangWithRetry', function* (context) {
      return yield context.df.callActivityWithRetry('Hang', new RetryOptions(100, 2), { recoverOnAttempt: 1 });
    })
    .orchestration('HangNoRetry', function* (context) {
      return yield context.df.callActivity('Hang', { recoverOnAttempt: null });
    })
    .activity('Quick', async (n: number) => n * 2)
    .orchestration('QuickFanOut', function* (context) {
      const count = context.df.getInput<number>();
      const tasks = [];
      for (let i = 1; i <= count; i++) tasks.push(context.df.callActivity<number>('Quick', i));
      const results: number[] = yield context.df.Task.all(tasks);
      return results.reduce((a, b) => a + b, 0);
    })
    .activity('LateAnswer', { timeoutSeconds: 1 }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      return 'too late';
    })
    .orchestration('WaitsForLateAnswer', function* (context) {
      return yield context.df.callActivity('LateAnswer');
    });
}

async function start(hub: TestHub, name: string, input: unknown): Promise<string> {
  const started = await hub.client.start({ name, input: JSON.stringify(input) });
  assert.equal(started.kind, 'created');
  return started.kind === 'created' ? started.instanceId : '';
}

async function until(what: string, predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('activity slots and timeouts', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ registry: registry(), env: { TASKHUB_ACTIVITY_CONCURRENCY: '200', TASKHUB_ACTIVITY_BATCH_SIZE: '50' } });
  });
  after(async () => {
    await hub?.close();
  });

  it('150 hung activities hold 150 slots; 1,000 others complete; the hung ones time out as their policy says', async () => {
    const worker = hub.worker!;
    const withRetry = await Promise.all(Array.from({ length: HUNG / 2 }, () => start(hub, 'HangWithRetry', null)));
    const noRetry = await Promise.all(Array.from({ length: HUNG / 2 }, () => start(hub, 'HangNoRetry', null)));
    await until('every hung activity to hold a slot', () => worker.busySlots === HUNG);

    const fan = await start(hub, 'QuickFanOut', NORMAL);
    const done = await waitForInstance(hub, fan);
    assert.equal(done.runtimeStatus, 'Completed');
    assert.equal(JSON.parse(done.output as string), NORMAL * (NORMAL + 1));
    // The normal work finished while the hung attempts were still running in their slots.
    assert.equal(worker.timedOut, 0, 'no hung attempt had timed out yet');
    assert.equal(worker.busySlots, HUNG);

    const retried = await Promise.all(withRetry.map((id) => waitForInstance(hub, id, undefined, 120_000)));
    const failed = await Promise.all(noRetry.map((id) => waitForInstance(hub, id, undefined, 120_000)));
    for (const row of retried) {
      assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
      assert.equal(JSON.parse(row.output as string), 'recovered on attempt 1');
      const attempts = seen.get(row.instanceId) ?? [];
      assert.equal(attempts.length, 2);
      // One logical call: the same idempotency key on the retry, and an attempt number that counts it.
      assert.equal(attempts[0]?.key, attempts[1]?.key);
      assert.deepEqual(attempts.map((a) => a.attempt), [0, 1]);
      assert.equal(attempts[0]?.aborted(), true, `the timed-out attempt saw its signal abort (timedOut ${worker.timedOut})`);
    }
    for (const row of failed) {
      assert.equal(row.runtimeStatus, 'Failed');
      assert.match(row.output ?? '', /did not finish within 20 s \(its timeoutSeconds option\); the attempt was abandoned/);
      const status = await hub.client.status(row.instanceId, { history: true });
      const failures = (status?.history ?? []).filter((e) => e.type === 'TaskFailed');
      assert.equal(failures.length, 1);
      assert.equal(failures[0]?.type === 'TaskFailed' && failures[0].failure.type, 'ActivityTimeout');
    }
    // Every timed-out attempt still "runs" (it never settles): counted as abandoned, holding no slot.
    assert.equal(worker.timedOut, HUNG);
    assert.equal(worker.abandonedRunning, HUNG);
    await until('the slots to be released', () => worker.busySlots === 0);

    // Slots are free again: new work runs at once.
    const again = await waitForInstance(hub, await start(hub, 'QuickFanOut', 100));
    assert.equal(again.runtimeStatus, 'Completed');
  });

  it('drops the late result of an abandoned attempt', async () => {
    const worker = hub.worker!;
    const abandonedBefore = worker.abandonedRunning;
    const id = await start(hub, 'WaitsForLateAnswer', null);
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Failed');
    assert.match(row.output ?? '', /'LateAnswer' did not finish within 1 s/);
    // Wait until the abandoned attempt has really ended, then check that it left no trace.
    await until('the abandoned attempt to end', () => worker.abandonedRunning === abandonedBefore, 10_000);
    const { rows } = await hub.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM history WHERE instance_id = $1 AND event_type IN ('TaskCompleted', 'TaskFailed')`,
      [id],
    );
    assert.equal(rows[0]?.n, 1);
    const { rows: inbox } = await hub.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM inbox WHERE instance_id = $1', [id]);
    assert.equal(inbox[0]?.n, 0);
  });
});

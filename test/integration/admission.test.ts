/**
 * Admission while the orchestrator runs (issue 12, test 3): the limits are checked at the call that
 * crosses them, so a 10-million fan-out fails at task 20,001 with a failure naming the limit and its
 * setting, memory stays flat and the process keeps answering; catching the limit's error does not
 * save the execution; oversized payloads are refused the same way; and a shipped example validates
 * its input at start (a 400, no instance).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerExamples } from '../../src/examples/index.ts';
import { RetryOptions } from '../../src/orchestrator/core/tasks.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

function registry(): Registry {
  return registerExamples(new Registry())
    .activity('Noop', async () => null)
    .activity('BigResult', async () => 'y'.repeat(2 * 1024 * 1024))
    .orchestration('UnboundedFanOut', function* (context) {
      const count = context.df.getInput<number>();
      const tasks = [];
      for (let i = 0; i < count; i++) tasks.push(context.df.callActivity('Noop', i));
      yield context.df.Task.all(tasks);
      return 'unreachable';
    })
    .orchestration('CatchesTheLimit', function* (context) {
      const tasks = [];
      try {
        for (let i = 0; i < 1_000_000; i++) tasks.push(context.df.callActivity('Noop', i));
      } catch {
        // Swallowing the limit's error must not let the execution go on.
      }
      yield context.df.Task.all(tasks.slice(0, 10));
      return 'went on';
    })
    .orchestration('BigInput', function* (context) {
      return yield context.df.callActivity('Noop', 'x'.repeat(2 * 1024 * 1024));
    })
    .orchestration('BigResultCaught', function* (context) {
      try {
        yield context.df.callActivityWithRetry('BigResult', new RetryOptions(10, 3));
        return 'unreachable';
      } catch (err) {
        return (err as Error).message;
      }
    })
    .orchestration('Validated', { validate: (input) => ((input as { ok?: boolean } | null)?.ok ? undefined : 'ok must be true') }, function* (context) {
      return yield context.df.callActivity('Noop');
    });
}

describe('admission', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ registry: registry(), listen: true });
  });
  after(async () => {
    await hub?.close();
  });

  it('a 10-million fan-out fails at the task over the pending limit; memory flat, the process answering', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    let probing = true;
    const probes: number[] = [];
    const probe = (async () => {
      while (probing) {
        const res = await fetch(`${hub.url}/healthz`);
        probes.push(res.status);
        await res.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const started = await hub.client.start({ name: 'UnboundedFanOut', input: JSON.stringify(10_000_000) });
    assert.equal(started.kind, 'created');
    const row = await waitForInstance(hub, started.kind === 'created' ? started.instanceId : '');
    probing = false;
    await probe;
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    assert.equal(row.runtimeStatus, 'Failed');
    assert.equal(row.failure?.type, 'PendingTasksLimitExceeded');
    assert.match(row.failure?.message ?? '', /more than 20000 tasks pending at once, the limit \(TASKHUB_MAX_PENDING_TASKS\)/);
    assert.ok(probes.length > 0 && probes.every((s) => s === 200), `health answered throughout: ${probes.join(',')}`);
    // Building 10 million tasks would take gigabytes; stopping at 20,001 keeps growth small.
    assert.ok(heapGrowth < 300 * 1024 * 1024, `heap grew ${Math.round(heapGrowth / 1024 / 1024)} MiB`);
    // Nothing was scheduled: the turn that crossed the limit recorded no task.
    const { rows } = await hub.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM history WHERE instance_id = $1 AND event_type = 'TaskScheduled'`, [
      row.instanceId,
    ]);
    assert.equal(rows[0]?.n, 0);
  });

  it('catching the limit error does not let the execution go on', async () => {
    const started = await hub.client.start({ name: 'CatchesTheLimit', input: undefined });
    const row = await waitForInstance(hub, started.kind === 'created' ? started.instanceId : '');
    assert.equal(row.runtimeStatus, 'Failed');
    assert.equal(row.failure?.type, 'PendingTasksLimitExceeded');
  });

  it('an activity input over TASKHUB_MAX_PAYLOAD_BYTES fails the instance naming the limit', async () => {
    const started = await hub.client.start({ name: 'BigInput', input: undefined });
    const row = await waitForInstance(hub, started.kind === 'created' ? started.instanceId : '');
    assert.equal(row.runtimeStatus, 'Failed');
    assert.equal(row.failure?.type, 'PayloadLimitExceeded');
    assert.match(row.failure?.message ?? '', /the input of activity 'Noop' is 2097154 bytes of JSON, over the limit of 1048576 \(TASKHUB_MAX_PAYLOAD_BYTES\)/);
  });

  it('an activity result over TASKHUB_MAX_PAYLOAD_BYTES fails that task, once, naming the limit; the orchestration can catch it', async () => {
    const started = await hub.client.start({ name: 'BigResultCaught', input: undefined });
    const row = await waitForInstance(hub, started.kind === 'created' ? started.instanceId : '');
    assert.equal(row.runtimeStatus, 'Completed');
    assert.match(row.output ?? '', /the result of activity 'BigResult' is 2097154 bytes of JSON, over the limit of 1048576 \(TASKHUB_MAX_PAYLOAD_BYTES\)/);
    // Not retried (the same function would return the same result), and nothing big was stored.
    const { rows } = await hub.pool.query<{ scheduled: number; biggest: number }>(
      `SELECT count(*) FILTER (WHERE event_type = 'TaskScheduled')::int AS scheduled, coalesce(max(length(payload)), 0)::int AS biggest FROM history WHERE instance_id = $1`,
      [row.instanceId],
    );
    assert.deepEqual(rows[0], { scheduled: 1, biggest: rows[0]?.biggest });
    assert.ok((rows[0]?.biggest ?? 0) < 1024, `largest stored payload ${rows[0]?.biggest} bytes`);
  });

  it('FanOutFanIn refuses a count above its maximum with a 400 at start, creating nothing', async () => {
    const base = `${hub.url}/runtime/webhooks/durabletask`;
    const res = await fetch(`${base}/orchestrators/FanOutFanIn/too-big`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ count: 10_000_000 }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { message?: string };
    assert.match(JSON.stringify(body), /count must be a whole number from 0 to 20000, got 10000000/);
    assert.equal(await hub.client.get('too-big'), undefined);
    const ok = await fetch(`${base}/orchestrators/Validated`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
    assert.equal(ok.status, 202);
    const refused = await fetch(`${base}/orchestrators/Validated`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /The input of 'Validated' is invalid: ok must be true/);
  });
});

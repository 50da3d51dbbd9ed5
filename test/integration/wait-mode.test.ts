/**
 * Wait mode costs little (issue 12, test 4): 200 concurrent starts in wait mode (timeout,
 * pollingInterval=0.05) learn of their instances' ends by wake-ups, not by a query per request
 * per interval: while all 200 wait, the process runs one shared poll statement per interval at
 * most, other orchestrations keep completing, and every request answers 200 with its output.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerExamples } from '../../src/examples/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startAndWait, startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

const WAITERS = 200;

function registry(): Registry {
  return registerExamples(new Registry()).orchestration('WaitsForGo', function* (context) {
    const value: unknown = yield context.df.waitForExternalEvent('Go');
    return { got: value };
  });
}

describe('wait mode', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ registry: registry(), listen: true });
  });
  after(async () => {
    await hub?.close();
  });

  it('200 concurrent waiting starts: one shared poll, orchestrations keep running, each answers with its output', async () => {
    const watch = hub.client.completions!;
    const base = `${hub.url}/runtime/webhooks/durabletask/orchestrators/WaitsForGo`;
    const replies = Array.from({ length: WAITERS }, (_, i) =>
      fetch(`${base}/wait-${i}?timeout=120&pollingInterval=0.05`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }),
    );
    for (let i = 0; i < WAITERS; i++) await waitForInstance(hub, `wait-${i}`, (r) => r.runtimeStatus === 'Running');
    const waitStart = Date.now();
    const pollsBefore = watch.polls;
    while (watch.watched < WAITERS) await new Promise((resolve) => setTimeout(resolve, 20));

    // Work keeps flowing while 200 requests wait.
    for (let i = 0; i < 5; i++) assert.equal((await startAndWait(hub, 'HelloSequence')).runtimeStatus, 'Completed');

    const elapsed = Date.now() - waitStart;
    const polls = watch.polls - pollsBefore;
    // Per-request polling every 50 ms would be 200 × elapsed / 50 statements; the shared poll is one per 100 ms.
    assert.ok(polls <= elapsed / 100 + 2, `${polls} shared polls in ${elapsed} ms with ${WAITERS} waiters`);

    for (let i = 0; i < WAITERS; i++) await hub.client.raiseEvent(`wait-${i}`, 'Go', JSON.stringify(i));
    const answered = await Promise.all(replies);
    for (const [i, res] of answered.entries()) {
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { got: i });
    }
    assert.equal(watch.watched, 0);
  });
});

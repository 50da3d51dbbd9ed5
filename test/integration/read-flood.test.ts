/**
 * A status-read flood while orchestrations run (issue 12, test 2): 50 clients read a ~6,000-event
 * history (showHistory + showHistoryOutput) in a loop over real HTTP while HelloSequence and a
 * fan-out run; the orchestrations complete, every read answers 200 with the full, correct payload
 * (the cached rendering equals a fresh one), cheap reads and starts still get through, and a purge
 * is seen at once (the cache is keyed on the row).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerExamples } from '../../src/examples/index.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startAndWait, startTestHub, type TestHub } from '../helpers/hub.ts';

const READERS = 50;

describe('read flood', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub({ registry: registerExamples(new Registry()), listen: true });
  });
  after(async () => {
    await hub?.close();
  });

  it('orchestrations complete and every read is whole while 50 clients read a big history', async () => {
    const big = await startAndWait(hub, 'FanOutFanIn', { count: 3000 });
    assert.equal(big.runtimeStatus, 'Completed');
    const url = `${hub.url}/runtime/webhooks/durabletask/instances/${big.instanceId}?showHistory=true&showHistoryOutput=true`;
    const first = await fetch(url);
    assert.equal(first.status, 200);
    const reference = await first.text();
    const parsed = JSON.parse(reference) as { historyEvents: unknown[]; output: number };
    assert.ok(parsed.historyEvents.length > 3000, `${parsed.historyEvents.length} events`);
    assert.equal(parsed.output, (3000 * 3001 * 6001) / 6);

    let reading = true;
    let reads = 0;
    const bad: string[] = [];
    const readers = Array.from({ length: READERS }, async () => {
      while (reading) {
        const res = await fetch(url);
        const text = await res.text();
        if (res.status !== 200 || text !== reference) bad.push(`${res.status} ${text.length}`);
        reads++;
      }
    });
    try {
      const runs = await Promise.all([
        ...Array.from({ length: 5 }, () => startAndWait(hub, 'HelloSequence')),
        startAndWait(hub, 'FanOutFanIn', { count: 500 }),
      ]);
      for (const run of runs) assert.equal(run.runtimeStatus, 'Completed');
      // A cheap status read gets through during the flood.
      const cheap = await fetch(`${hub.url}/runtime/webhooks/durabletask/instances/${runs[0]?.instanceId}`);
      assert.equal(cheap.status, 200);
    } finally {
      reading = false;
      await Promise.all(readers);
    }
    assert.deepEqual(bad, [], 'every read answered 200 with the whole payload');
    assert.ok(reads >= READERS, `${reads} reads`);

    // The cache follows the row: a purged instance is gone at once.
    assert.equal(await hub.client.purge(big.instanceId), 1);
    assert.equal((await fetch(url)).status, 404);
  });
});

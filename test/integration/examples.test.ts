import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAndWait, startTestHub, type TestHub } from '../helpers/hub.ts';

describe('shipped examples on real Postgres and pg-boss', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub?.close();
  });

  it('HelloSequence says hello to three cities in order', async () => {
    const row = await startAndWait(hub, 'HelloSequence');
    assert.equal(row.runtimeStatus, 'Completed');
    assert.deepEqual(JSON.parse(row.output as string), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
  });

  it('FanOutFanIn sums the squares of 1..N', async () => {
    const row = await startAndWait(hub, 'FanOutFanIn', { count: 100 });
    assert.equal(row.runtimeStatus, 'Completed');
    assert.equal(JSON.parse(row.output as string), (100 * 101 * 201) / 6);
  });
});

/** Reliability scenario 14 (reliability/tests/read-flood.ts) at test size: a status-read flood while orchestrations run. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/read-flood.ts';
import { assertScenario } from './support.ts';

it('50 clients reading a 6,000-event history: orchestrations complete, every read is whole, /healthz answers', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

/** Reliability scenario 10 (reliability/tests/caps.ts) at test size: resource caps. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/caps.ts';
import { assertScenario } from './support.ts';

it('resource caps: 413 over the body limit, pending-task and history caps fail the instance, start floods get 429', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

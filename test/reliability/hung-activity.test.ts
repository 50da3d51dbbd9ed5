/** Reliability scenario 13 (reliability/tests/hung-activity.ts) at test size: hung activities hold slots, not the worker. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/hung-activity.ts';
import { assertScenario } from './support.ts';

it('100 hung activities that ignore their signal: 1,000 others complete; the hung ones time out and retry or fail as their policy says', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

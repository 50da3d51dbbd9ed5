/** Reliability scenario 5 (reliability/tests/redelivery.ts) at test size: an activity redelivered while its first attempt runs: its result is recorded once. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/redelivery.ts';
import { assertScenario } from './support.ts';

it('an activity redelivered while its first attempt runs: its result is recorded once', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

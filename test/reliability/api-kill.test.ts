/** Reliability scenario api-kill (reliability/tests/api-kill.ts) at test size, in `npm test` so that a fault-handling regression fails CI. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/api-kill.ts';
import { assertScenario } from './support.ts';

it('the API process SIGKILLed under starts: every acknowledged start exists and completes', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

/** Reliability scenario worker-kill (reliability/tests/worker-kill.ts) at test size, in `npm test` so that a fault-handling regression fails CI. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/worker-kill.ts';
import { assertScenario } from './support.ts';

it('worker processes SIGKILLed mid-run: nothing lost, no duplicate results', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

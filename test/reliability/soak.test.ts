/** Reliability scenario soak (reliability/tests/soak.ts) at test size, in `npm test` so that a fault-handling regression fails CI. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/soak.ts';
import { assertScenario } from './support.ts';

it('a short soak of mixed load: invariants hold, no 5xx', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

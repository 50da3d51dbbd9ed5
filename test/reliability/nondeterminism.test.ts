/** Reliability scenario 7 (reliability/tests/nondeterminism.ts) at test size: a code change under running instances fails them clearly; others go on. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/nondeterminism.ts';
import { assertScenario } from './support.ts';

it('a code change under running instances fails them clearly; others go on', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

/** Reliability scenario 8 (reliability/tests/bad-input.ts) at test size: bad input: generated requests over every route give no 5xx, no leaks, no row changes. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/bad-input.ts';
import { assertScenario } from './support.ts';

it('bad input: generated requests over every route give no 5xx, no leaks, no row changes', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

/** Reliability scenario 9 (reliability/tests/auth.ts) at test size: authorization: 401 without or with a wrong key on every route; the key never logged. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/auth.ts';
import { assertScenario } from './support.ts';

it('authorization: 401 without or with a wrong key on every route; the key never logged', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

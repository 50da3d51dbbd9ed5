/** Reliability scenario 6 (reliability/tests/races.ts) at test size: terminate and events racing. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/races.ts';
import { assertScenario } from './support.ts';

it('terminate racing completion and events racing terminate end consistently', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

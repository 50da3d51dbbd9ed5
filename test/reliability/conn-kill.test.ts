/** Reliability scenario conn-kill (reliability/tests/conn-kill.ts) at test size, in `npm test` so that a fault-handling regression fails CI. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/conn-kill.ts';
import { assertScenario } from './support.ts';

it('connections killed from the database side under load: no crash, nothing lost, each blip recovered within seconds', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

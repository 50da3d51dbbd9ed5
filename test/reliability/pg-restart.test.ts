/** Reliability scenario pg-restart (reliability/tests/pg-restart.ts) at test size, in `npm test` so that a fault-handling regression fails CI. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/pg-restart.ts';
import { assertScenario } from './support.ts';

it('PostgreSQL restarted under in-flight timers and events: every instance completes with its acknowledged events', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

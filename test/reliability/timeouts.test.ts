/** Reliability scenario 12 (reliability/tests/timeouts.ts) at test size: timeouts are set on the service sessions, connections and HTTP server, and fire. */
import { it } from 'node:test';
import { run } from '../../reliability/tests/timeouts.ts';
import { assertScenario } from './support.ts';

it('timeouts are set on the service sessions, connections and HTTP server, and fire', async (t) => {
  await assertScenario(t, await run({ mode: 'test' }));
});

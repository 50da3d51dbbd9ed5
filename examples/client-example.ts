/**
 * The generated, typed HTTP client against a running pg-taskhub: start HelloSequence, poll its
 * status until it ends, print the output.
 *
 *   npm start                                   # in another terminal
 *   node --experimental-strip-types examples/client-example.ts
 *
 * TASKHUB_URL: the service (default http://127.0.0.1:7071); TASKHUB_KEY: its key, when it has one.
 * In an application, import from the package: `import { createTaskHubHttpClient } from 'pg-taskhub/client'`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createTaskHubHttpClient, type ManagementPayload } from '../src/client/index.ts';

const hub = createTaskHubHttpClient(process.env.TASKHUB_URL ?? 'http://127.0.0.1:7071', { key: process.env.TASKHUB_KEY });

// POST orchestrators/{functionName}: the body is the input (null: none). A 202 carries the management
// payload; a 200 (wait mode, onConflict=useExisting) may be any JSON, so the data is narrowed by status.
const started = await hub.POST('/runtime/webhooks/durabletask/orchestrators/{functionName}', {
  params: { path: { functionName: 'HelloSequence' } },
  body: null,
});
if (started.response.status !== 202) {
  throw new Error(`start failed: HTTP ${started.response.status} ${JSON.stringify(started.error ?? null)}`);
}
const instanceId = (started.data as ManagementPayload).id;
console.log(`started HelloSequence: ${instanceId}`);

// GET instances/{instanceId}: 202 while the instance runs, 200 once it has ended.
for (;;) {
  const { data, error, response } = await hub.GET('/runtime/webhooks/durabletask/instances/{instanceId}', {
    params: { path: { instanceId } },
  });
  if (data === undefined) throw new Error(`status failed: HTTP ${response.status} ${JSON.stringify(error ?? null)}`);
  if (response.status === 200) {
    console.log(`${data.runtimeStatus}: ${JSON.stringify(data.output)}`);
    if (data.runtimeStatus !== 'Completed') process.exitCode = 1;
    break;
  }
  // The server suggests Retry-After: 5 (seconds); a short demo polls faster.
  await sleep(250);
}

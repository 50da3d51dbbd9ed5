/**
 * Wait mode of a start (`timeout` and `pollingInterval`, in seconds): wait until the instance ends
 * or the time is up, as Durable Functions' WaitForCompletionOrCreateCheckStatusResponse does. The
 * wait learns of the end by a wake-up (the engine's completion notice in this process, or one
 * shared poll per process for ends elsewhere), not by a query per request per interval; the
 * instance is read once before and once after.
 */
import { ApiError } from './api-error.ts';
import type { Management } from '../orchestrator/management.ts';
import { isTerminal } from '../orchestrator/core/statuses.ts';
import type { Instance } from '../orchestrator/core/instance.ts';

/** Polling faster than this only loads the database; a smaller pollingInterval is raised to it. */
const MIN_POLL_MS = 50;

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
}

/** Wait options from the query; undefined unless both are given. A 400 when polling outlasts the wait. */
export function waitOptions(timeout: number | undefined, pollingInterval: number | undefined): WaitOptions | undefined {
  if (timeout === undefined || pollingInterval === undefined) return undefined;
  if (pollingInterval > timeout) {
    throw new ApiError(
      'VALIDATION',
      `Total timeout ${timeout} should be bigger than retry timeout ${pollingInterval}: pollingInterval must not exceed timeout.`,
    );
  }
  return { timeoutMs: timeout * 1000, pollMs: Math.max(MIN_POLL_MS, pollingInterval * 1000) };
}

/**
 * Waits until the instance is terminal or the time is up (or the caller went away); returns the
 * last row read.
 */
export async function waitForEnd(client: Management, instanceId: string, wait: WaitOptions, signal: AbortSignal): Promise<Instance | undefined> {
  const deadline = Date.now() + wait.timeoutMs;
  for (;;) {
    const row = await client.get(instanceId);
    const left = deadline - Date.now();
    if ((row && isTerminal(row.runtimeStatus)) || left <= 0 || signal.aborted) return row;
    await client.untilEnded(instanceId, left, wait.pollMs, signal);
  }
}

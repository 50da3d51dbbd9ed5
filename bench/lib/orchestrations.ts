/**
 * The benchmark's own orchestrations, loaded by the server as a user module (TASKHUB_MODULES), the
 * way users add theirs. HelloSequence and FanOutFanIn are the shipped examples.
 */
import type { Orchestrator } from '../../src/orchestrator/core/context.ts';
import type { Registry } from '../../src/orchestrator/registry.ts';

export function register(registry: Registry): void {
  // The trivial orchestration of the start benchmark: one turn, no activities.
  // eslint-disable-next-line require-yield
  registry.orchestration('BenchNoop', { description: 'Returns its input (benchmark)' }, function* (context) {
    return context.df.getInput();
  });
  // The singleton of the contention benchmark: holds its slot until it is terminated.
  registry.orchestration('BenchSingleton', { description: 'Single-instance; waits for the event "release" (benchmark)', singleton: true }, function* (context) {
    return yield context.df.waitForExternalEvent('release');
  });
  // Concurrency control (bench/lib/concurrency.ts): one orchestration per policy, each holding its
  // slot until it gets the event 'release' (BenchDebounce returns at once: its cost is the collapse).
  const waits: Orchestrator = function* (context) {
    return yield context.df.waitForExternalEvent('release');
  };
  registry
    .orchestration('BenchWaits', { description: 'No limit; waits for "release" (benchmark baseline)' }, waits)
    .orchestration('BenchLimitFail', { description: 'Limit 3, fail (benchmark)', concurrency: { limit: 3 } }, waits)
    .orchestration('BenchLimitExisting', { description: 'Limit 3, useExisting (benchmark)', concurrency: { limit: 3 } }, waits)
    .orchestration('BenchLimitTerminate', { description: 'Limit 3, terminateExisting (benchmark)', concurrency: { limit: 3 } }, waits)
    .orchestration('BenchQueue', { description: 'Limit 1, queue (benchmark)', concurrency: { limit: 1 }, onConflict: 'queue' }, waits)
    .orchestration('BenchReplace', { description: 'Limit 1, replaceQueued (benchmark)', concurrency: { limit: 1 }, onConflict: 'replaceQueued' }, waits)
    .orchestration('BenchHandOff', { description: 'Limit 1, queue: the hand-off benchmark', concurrency: { limit: 1 }, onConflict: 'queue' }, waits)
    // eslint-disable-next-line require-yield
    .orchestration('BenchDebounce', { description: 'Debounced 60 s (benchmark)', debounce: { seconds: 60, maxWaitSeconds: 600 } }, function* (context) {
      return context.df.getInput();
    });
  // The scale series' fan-out: FanOutFanIn without the example's 20,000 cap (the series raises
  // TASKHUB_MAX_PENDING_TASKS and TASKHUB_MAX_HISTORY_EVENTS for its runs instead).
  registry.orchestration('BenchFanOut', { description: 'Square on 1..count in parallel, any count; returns the sum (benchmark)' }, function* (context) {
    const count = Math.max(0, Math.floor(Number(context.df.getInput<{ count?: number } | null>()?.count ?? 10)));
    const tasks = [];
    for (let i = 1; i <= count; i++) tasks.push(context.df.callActivity<number>('Square', i));
    const squares: number[] = yield context.df.Task.all(tasks);
    return squares.reduce((sum, x) => sum + x, 0);
  });
  // The hung activity of the bulkhead benchmark: never resolves and ignores its signal (a network call
  // that hangs); it holds one activity slot until it is terminated or times out.
  registry
    .activity('BenchHang', { description: 'Never resolves (benchmark)', timeoutSeconds: 3600 }, () => new Promise(() => undefined))
    .orchestration('BenchHangs', { description: 'Calls BenchHang (benchmark)' }, function* (context) {
      return yield context.df.callActivity('BenchHang', context.df.getInput());
    });
}

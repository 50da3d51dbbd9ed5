/**
 * The benchmark's own orchestrations, loaded by the server as a user module (TASKHUB_MODULES), the
 * way users add theirs. HelloSequence and FanOutFanIn are the shipped examples.
 */
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
  // The hung activity of the bulkhead benchmark: never resolves and ignores its signal (a network call
  // that hangs); it holds one activity slot until it is terminated or times out.
  registry
    .activity('BenchHang', { description: 'Never resolves (benchmark)', timeoutSeconds: 3600 }, () => new Promise(() => undefined))
    .orchestration('BenchHangs', { description: 'Calls BenchHang (benchmark)' }, function* (context) {
      return yield context.df.callActivity('BenchHang', context.df.getInput());
    });
}

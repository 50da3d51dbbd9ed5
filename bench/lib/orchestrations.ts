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
}

/**
 * The reliability workload: orchestrations and activities registered in every server process of the
 * suite (`--module ./reliability/lib/workload.ts`). Every activity logs its execution to the oracle
 * first. Outputs are computable from inputs, so a lost or doubled result shows in the output too.
 *
 * RELIABILITY_VARIANT=v2 registers a changed `RelVersioned` (task 0 calls another activity): the
 * code change under a running instance of scenario 7.
 */
import type { ActivityContext } from '../../src/orchestrator/core/activity-context.ts';
import type { Registry } from '../../src/orchestrator/registry.ts';
import { RetryOptions } from '../../src/orchestrator/core/tasks.ts';
import { OracleLog } from './oracle.ts';

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error(`aborted: ${String(signal.reason)}`));
    });
  });

export interface WorkloadOptions {
  oracleUrl: string;
  variant?: string;
}

/**
 * RelHang's attempt timeout (its registration option). The scenario checks that a 1,000-activity
 * fan-out finishes while the hung attempts still hold their slots, i.e. inside this window: 8 s was
 * met alone (about 2 s) but missed by 2 ms with the whole suite running beside it on 2 cores.
 */
export const HANG_TIMEOUT_SECONDS = 15;

export const sumOfSquares = (count: number): number => (count * (count + 1) * (2 * count + 1)) / 6;

export function registerWorkload(registry: Registry, options: WorkloadOptions): { oracle: OracleLog } {
  const oracle = new OracleLog(options.oracleUrl);
  const log = (context: ActivityContext): Promise<void> =>
    oracle.record({
      instanceId: context.task.instanceId,
      executionId: context.task.executionId,
      taskId: context.task.taskId,
      activity: context.name,
      attempt: context.attempt,
    });

  registry
    .activity('RelWork', async (input: { n: number; ms?: number }, context) => {
      await log(context);
      await sleep(input.ms ?? 0);
      return input.n * input.n;
    })
    .activity('RelSleep', async (input: { ms: number; firstAttemptMs?: number; honourSignal?: boolean }, context) => {
      await log(context);
      const ms = context.attempt === 0 && input.firstAttemptMs !== undefined ? input.firstAttemptMs : input.ms;
      await sleep(ms, input.honourSignal ? context.signal : undefined);
      return `slept ${ms} ms on attempt ${context.attempt}`;
    })
    .activity('RelBoom', async (message: string, context) => {
      await log(context);
      throw new Error(message);
    })
    // A network call that hangs: never settles and ignores its abort signal, until the attempt given.
    .activity('RelHang', { timeoutSeconds: HANG_TIMEOUT_SECONDS }, async (input: { recoverOnAttempt?: number }, context) => {
      await log(context);
      if (input.recoverOnAttempt !== undefined && context.attempt >= input.recoverOnAttempt) {
        return { attempt: context.attempt, key: context.idempotencyKey };
      }
      return new Promise(() => undefined);
    });

  registry
    .orchestration('RelHangRetry', function* (context) {
      return yield context.df.callActivityWithRetry('RelHang', new RetryOptions(200, 3), { recoverOnAttempt: 1 });
    })
    .orchestration('RelHangNoRetry', function* (context) {
      return yield context.df.callActivity('RelHang', {});
    });

  registry
    .orchestration('RelFanOut', function* (context) {
      const { count, ms } = context.df.getInput<{ count: number; ms?: number }>();
      const tasks = [];
      for (let n = 1; n <= count; n++) tasks.push(context.df.callActivity<number>('RelWork', { n, ms }));
      const squares: number[] = yield context.df.Task.all(tasks);
      return squares.reduce((a, b) => a + b, 0);
    })
    .orchestration('RelSequence', function* (context) {
      const { steps, ms } = context.df.getInput<{ steps: number; ms?: number }>();
      let sum = 0;
      for (let n = 1; n <= steps; n++) sum += (yield context.df.callActivity<number>('RelWork', { n, ms })) as number;
      return sum;
    })
    .orchestration('RelTimerEvent', function* (context) {
      const { timerMs, events, workMs } = context.df.getInput<{ timerMs: number; events: number; workMs?: number }>();
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + timerMs));
      const work: number = yield context.df.callActivity<number>('RelWork', { n: 3, ms: workMs });
      const received: unknown[] = [];
      for (let i = 0; i < events; i++) received.push(yield context.df.waitForExternalEvent('Go'));
      return { work, events: received };
    })
    .orchestration('RelWaitEvent', function* (context) {
      const event: unknown = yield context.df.waitForExternalEvent('Go');
      const work: number = yield context.df.callActivity<number>('RelWork', { n: 2 });
      return { event, work };
    })
    .orchestration('RelTwoEvents', function* (context) {
      const a: unknown = yield context.df.waitForExternalEvent('Go');
      const b: unknown = yield context.df.waitForExternalEvent('Go');
      return [a, b];
    })
    .orchestration('RelSlow', function* (context) {
      // After the slow activity, a durable timer keeps the instance active while a late (first)
      // attempt of that activity reports: its duplicate result must be dropped, not recorded.
      const input = context.df.getInput<{ ms: number; firstAttemptMs?: number; honourSignal?: boolean; holdMs?: number }>();
      const slept: string = yield context.df.callActivity<string>('RelSleep', input);
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + (input.holdMs ?? 0)));
      const work: number = yield context.df.callActivity<number>('RelWork', { n: 4 });
      return { slept, work };
    })
    .orchestration('RelSingleton', { singleton: { key: (input) => String((input as { tenant?: string } | null)?.tenant ?? 'none') } }, function* (context) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 300));
      return yield context.df.callActivity<number>('RelWork', { n: 5 });
    })
    .orchestration('RelCountdown', function* (context) {
      const n = context.df.getInput<number>();
      yield context.df.callActivity<number>('RelWork', { n });
      if (n > 0) {
        context.df.continueAsNew(n - 1);
        return undefined;
      }
      return 'done';
    })
    .orchestration('RelFail', function* (context) {
      return yield context.df.callActivity('RelBoom', context.df.getInput<string>() ?? 'boom');
    });

  if (options.variant === 'v2') {
    registry.orchestration('RelVersioned', function* (context) {
      yield context.df.callActivity('RelSleep', { ms: 0 }); // v1 called RelWork at task 0
      yield context.df.waitForExternalEvent('Continue');
      return 'v2 done';
    });
  } else {
    registry.orchestration('RelVersioned', function* (context) {
      yield context.df.callActivity('RelWork', { n: 1 });
      yield context.df.waitForExternalEvent('Continue');
      return 'v1 done';
    });
  }
  return { oracle };
}

/** The module entry for `--module`: the oracle logs into the server's own database. */
export function register(registry: Registry): Registry {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('the reliability workload needs DATABASE_URL (the oracle logs into that database)');
  registerWorkload(registry, { oracleUrl: url, variant: process.env.RELIABILITY_VARIANT });
  return registry;
}

export default register;

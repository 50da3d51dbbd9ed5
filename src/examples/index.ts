/**
 * The shipped example orchestrations: what `npm start` serves, and the fixtures of the tests. They
 * are ordinary user code: deterministic orchestrators (no Date, Math.random, I/O) and activities
 * that do the work.
 */
import type { Registry } from '../orchestrator/registry.ts';
import { EntityId } from '../orchestrator/core/entities.ts';
import { RetryOptions } from '../orchestrator/core/tasks.ts';
import { registerDataIngest } from './data-ingest.ts';
import { type ExampleOptions, type ExampleServices, requirePool } from './services.ts';

export type { ExampleOptions, ExampleServices } from './services.ts';

/** Increments a durable counter and returns its new value. */
async function bump(services: ExampleServices, key: string): Promise<number> {
  const { rows } = await (await requirePool(services)).query<{ n: number }>(
    `INSERT INTO example_counters (key, n) VALUES ($1, 1)
     ON CONFLICT (key) DO UPDATE SET n = example_counters.n + 1 RETURNING n`,
    [key],
  );
  return rows[0]?.n ?? 0;
}

/** The largest `count` FanOutFanIn accepts: the default TASKHUB_MAX_PENDING_TASKS. */
export const FAN_OUT_MAX = 20_000;

const withExamples = new WeakSet<Registry>();

/** Whether registerExamples was called on this registry (its tables are then migrated). */
export function hasExamples(registry: Registry): boolean {
  return withExamples.has(registry);
}

export function registerExamples(registry: Registry, services: ExampleServices = { pool: undefined }, options: ExampleOptions = {}): Registry {
  withExamples.add(registry);
  registry
    .activity('SayHello', async (name: string) => `Hello ${name}!`)
    .orchestration('HelloSequence', { description: 'SayHello on Tokyo, Seattle and London, in sequence' }, function* (context) {
      const outputs: string[] = [];
      outputs.push(yield context.df.callActivity('SayHello', 'Tokyo'));
      outputs.push(yield context.df.callActivity('SayHello', 'Seattle'));
      outputs.push(yield context.df.callActivity('SayHello', 'London'));
      return outputs;
    });

  registry
    .activity('Square', async (n: number) => n * n)
    .orchestration(
      'FanOutFanIn',
      {
        description: `Square on 1..count in parallel (count ≤ ${FAN_OUT_MAX}); returns the sum`,
        validate: (input) => {
          const count = (input as { count?: unknown } | null)?.count;
          if (count === undefined) return undefined;
          if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > FAN_OUT_MAX) {
            return `count must be a whole number from 0 to ${FAN_OUT_MAX}, got ${JSON.stringify(count)}`;
          }
          return undefined;
        },
      },
      function* (context) {
        const input = context.df.getInput<{ count?: number } | null>();
        const count = Math.max(0, Math.floor(Number(input?.count ?? 10)));
        const tasks = [];
        for (let i = 1; i <= count; i++) tasks.push(context.df.callActivity<number>('Square', i));
        const squares: number[] = yield context.df.Task.all(tasks);
        return squares.reduce((sum, x) => sum + x, 0);
      },
    );

  registry.orchestration(
    'Approval',
    { description: "Waits for the 'Approval' event (true/false) or a timeout" },
    function* (context) {
      const input = context.df.getInput<{ timeoutSeconds?: number } | null>();
      const timeoutSeconds = Number(input?.timeoutSeconds ?? 60);
      const deadline = new Date(context.df.currentUtcDateTime.getTime() + timeoutSeconds * 1000);
      const timer = context.df.createTimer(deadline);
      const approval = context.df.waitForExternalEvent<boolean>('Approval');
      context.df.setCustomStatus('waiting for approval');
      const winner = yield context.df.Task.any([approval, timer]);
      if (winner === approval) {
        timer.cancel();
        return approval.result ? 'approved' : 'rejected';
      }
      return 'timed out';
    },
  );

  // An orchestrator that only continues as new never yields; it is still a generator, as replay needs.
  // eslint-disable-next-line require-yield
  registry.orchestration('Countdown', { description: 'Continues as new with N-1 until 0' }, function* (context) {
    const n = Number(context.df.getInput<number>() ?? 0);
    context.df.setCustomStatus({ remaining: n });
    if (n <= 0) return 'done';
    context.df.continueAsNew(n - 1);
    return undefined;
  });

  registry.orchestration('ParentOfHello', { description: 'Runs HelloSequence as a sub-orchestration' }, function* (context) {
    return yield context.df.callSubOrchestrator('HelloSequence');
  });

  registry
    .activity('FailOnce', async (_input: unknown, context) => {
      if ((await bump(services, `FailOnce:${context.instanceId}`)) === 1) {
        throw new Error('FailOnce fails on its first execution for each instance');
      }
      return 'recovered';
    })
    .orchestration('RewindDemo', { description: 'Fails once; completes after a rewind' }, function* (context) {
      return yield context.df.callActivity('FailOnce');
    });

  registry
    .activity('FailTwice', async (_input: unknown, context) => {
      const attempt = await bump(services, `FailTwice:${context.instanceId}`);
      if (attempt <= 2) throw new Error(`FailTwice fails on attempt ${attempt}`);
      return attempt;
    })
    .orchestration('RetryDemo', { description: 'callActivityWithRetry over an activity that fails twice' }, function* (context) {
      const retry = new RetryOptions(100, 5);
      retry.backoffCoefficient = 2;
      return yield context.df.callActivityWithRetry('FailTwice', retry);
    });

  // A durable entity: one counter per key (POST …/entities/Counter/{key}?op=add with a number,
  // ?op=reset, ?op=get; GET …/entities/Counter/{key} reads it). One operation at a time per key.
  registry.entity<number>('Counter', (context) => {
    const value = context.df.getState(() => 0) ?? 0;
    switch (context.df.operationName) {
      case 'add': {
        const amount = context.df.getInput<number>() ?? 1;
        if (typeof amount !== 'number' || !Number.isFinite(amount)) throw new TypeError(`add needs a number, got ${JSON.stringify(amount)}`);
        context.df.setState(value + amount);
        context.df.return(value + amount);
        break;
      }
      case 'reset':
        context.df.setState(0);
        break;
      case 'get':
        context.df.return(value);
        break;
      default:
        throw new Error(`Counter has no operation '${context.df.operationName}' (add, reset, get, delete)`);
    }
  });
  // Calls the counter from an orchestration: adds each amount in turn (callEntity waits for each
  // result) and returns the last value.
  registry.orchestration('CountTo', { description: 'callEntity add on Counter/{key} for each amount; returns the final value' }, function* (context) {
    const { key = 'demo', amounts = [1, 2, 3] } = (context.df.getInput<{ key?: string; amounts?: number[] } | null>() ?? {}) as { key?: string; amounts?: number[] };
    const counter = new EntityId('Counter', key);
    let value = 0;
    for (const amount of amounts) value = yield context.df.callEntity<number>(counter, 'add', amount);
    return value;
  });

  registerDataIngest(registry, services, options);
  return registry;
}

/** Orchestrations of your own, loaded by TASKHUB_MODULES (see the Dockerfile beside this file). */
import { type Registry, RetryOptions } from 'pg-taskhub';

export function register(registry: Registry): void {
  registry
    .activity('Greet', async (name: string) => `Hello ${name}, from my image!`)
    .orchestration('Greeting', { description: 'Greets its input, retrying the activity if it fails' }, function* (context) {
      const name = context.df.getInput<string | null>() ?? 'world';
      return yield context.df.callActivityWithRetry('Greet', new RetryOptions(1000, 3), name);
    });
}

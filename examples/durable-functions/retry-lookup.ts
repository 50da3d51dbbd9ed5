/**
 * An activity retried by policy: the lookup service answers 503 to the first two calls for a key
 * (SAMPLE_SERVICES_URL stands in for it). The activity logs each failure with context.error and
 * throws; callActivityWithRetry tries again after 200 ms, then 400 ms.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.activity('LookUpAccount', {
  handler: async (key: string, context: df.InvocationContext) => {
    const res = await fetch(`${process.env.SAMPLE_SERVICES_URL}/flaky/${encodeURIComponent(key)}`);
    if (!res.ok) {
      context.error(`lookup of ${key} failed with ${res.status}`);
      throw new Error(`the account service answered ${res.status}`);
    }
    return res.json();
  },
});

df.app.orchestration('RetryLookup', {
  handler: function* (context) {
    const retry = new df.RetryOptions(200, 4);
    retry.backoffCoefficient = 2;
    const account: { key: string; attempts: number } = yield context.df.callActivityWithRetry('LookUpAccount', retry, context.df.instanceId);
    return account;
  },
});

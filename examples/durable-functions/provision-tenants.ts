/**
 * Sub-orchestrations with retry, fanned out: one ProvisionTenant child per tenant, each retried
 * when it fails. The database service fails the first request for each tenant of a run, so each
 * child fails once and its retry (a new child) succeeds.
 */
import * as df from 'pg-taskhub/durable-functions';

df.app.activity('CreateTenantDatabase', {
  handler: async (request: { tenant: string; run: string }) => {
    const res = await fetch(`${process.env.SAMPLE_SERVICES_URL}/provision/${request.run}/${request.tenant}`, { method: 'POST' });
    if (!res.ok) throw new Error(`provisioning ${request.tenant} failed: ${res.status}`);
    return (await res.json()) as { database: string };
  },
});

df.app.orchestration('ProvisionTenant', function* (context) {
  const request = context.df.getInput<{ tenant: string; run: string }>();
  const created: { database: string } = yield context.df.callActivity('CreateTenantDatabase', request);
  return { tenant: request.tenant, database: created.database };
});

df.app.orchestration('ProvisionTenants', function* (context) {
  const tenants = context.df.getInput<string[]>();
  const retry = new df.RetryOptions(100, 3);
  const children = tenants.map((tenant) =>
    context.df.callSubOrchestratorWithRetry('ProvisionTenant', retry, { tenant, run: context.df.instanceId }),
  );
  return yield context.df.Task.all(children);
});

/** TASKHUB_HUBS, TASKHUB_CONNECTION_<NAME>, TASKHUB_HUB_<NAME>_*, TASKHUB_WORKER_HUBS → Config, and the errors that name the variable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { Registry } from '../../src/orchestrator/registry.ts';

const A = 'postgres://u@db-a:5432/a';
const B = 'postgres://u@db-b:5432/b';

describe('task hub configuration', () => {
  it('without TASKHUB_HUBS: one hub, TASKHUB_NAME in TASKHUB_SCHEMA on the default connection (as before hubs)', () => {
    const c = loadConfig({ DATABASE_URL: A });
    assert.equal(c.hubName, 'TaskHub');
    assert.deepEqual(c.hubs, [{ name: 'TaskHub', connection: 'Storage', schema: 'taskhub', orchestrations: undefined }]);
    assert.equal(c.schema, 'taskhub');
    assert.deepEqual(c.connections, {});
    assert.equal(c.workerHubs, undefined);
    const named = loadConfig({ TASKHUB_NAME: 'DataIngest', TASKHUB_SCHEMA: 'jobs' });
    assert.deepEqual(named.hubs, [{ name: 'DataIngest', connection: 'Storage', schema: 'jobs', orchestrations: undefined }]);
  });

  it('Name[:Connection] lists, schemas derived per hub, the first listed is the default', () => {
    const c = loadConfig({
      DATABASE_URL: A,
      TASKHUB_HUBS: ' DataIngest , Billing:Reports,Audit:reports',
      TASKHUB_CONNECTION_REPORTS: B,
      TASKHUB_HUB_BILLING_ORCHESTRATIONS: 'Invoice, Refund',
      TASKHUB_HUB_AUDIT_SCHEMA: 'audit_trail',
      TASKHUB_WORKER_HUBS: 'billing',
    });
    assert.equal(c.hubName, 'DataIngest');
    assert.equal(c.schema, 'taskhub_dataingest');
    assert.deepEqual(c.hubs, [
      { name: 'DataIngest', connection: 'Storage', schema: 'taskhub_dataingest', orchestrations: undefined },
      { name: 'Billing', connection: 'Reports', schema: 'taskhub_billing', orchestrations: ['Invoice', 'Refund'] },
      { name: 'Audit', connection: 'Reports', schema: 'audit_trail', orchestrations: undefined },
    ]);
    assert.deepEqual(c.connections, { Reports: B });
    assert.deepEqual(c.workerHubs, ['billing']);
  });

  it('the hub named TASKHUB_NAME keeps TASKHUB_SCHEMA: listing more hubs beside an existing one moves none of its data', () => {
    const c = loadConfig({ TASKHUB_HUBS: 'Billing,TaskHub', TASKHUB_NAME: 'TaskHub' });
    assert.equal(c.hubName, 'TaskHub');
    assert.deepEqual(c.hubs.map((h) => [h.name, h.schema]), [['Billing', 'taskhub_billing'], ['TaskHub', 'taskhub']]);
    // With the default name (unset TASKHUB_NAME), the hub TaskHub keeps it too.
    assert.equal(loadConfig({ TASKHUB_HUBS: 'TaskHub,Billing' }).hubs[0]?.schema, 'taskhub');
  });

  it('refuses, naming the variable: an unset connection, a bad list, a duplicate, a shared schema, an unlisted default or worker hub', () => {
    const fails = (env: Record<string, string>, pattern: RegExp): void => assert.throws(() => loadConfig(env), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));
    fails({ TASKHUB_HUBS: 'A1b,Billing:Ledger' }, /^TASKHUB_HUBS puts the hub 'Billing' on the connection 'Ledger', but TASKHUB_CONNECTION_LEDGER is not set/);
    fails({ TASKHUB_HUBS: 'Billing:A:B' }, /^TASKHUB_HUBS must list Name or Name:Connection/);
    fails({ TASKHUB_HUBS: 'x' }, /^TASKHUB_HUBS must list/);
    fails({ TASKHUB_HUBS: 'Billing,billing' }, /^TASKHUB_HUBS lists the hub 'billing' twice/);
    fails({ TASKHUB_HUBS: 'Billing,Audit', TASKHUB_HUB_AUDIT_SCHEMA: 'taskhub_billing' }, /^TASKHUB_HUB_AUDIT_SCHEMA gives the hubs 'Billing' and 'Audit' the one schema/);
    fails({ TASKHUB_HUBS: 'Billing', TASKHUB_HUB_BILLING_SCHEMA: 'No-Good' }, /^TASKHUB_HUB_BILLING_SCHEMA gives the hub 'Billing' the schema "No-Good"/);
    fails({ TASKHUB_HUBS: 'Billing', TASKHUB_NAME: 'Other' }, /^TASKHUB_NAME is "Other", the default hub, but TASKHUB_HUBS does not list it/);
    fails({ TASKHUB_HUBS: 'Billing', TASKHUB_WORKER_HUBS: 'Audit' }, /^TASKHUB_WORKER_HUBS names the hub 'Audit', which is not served/);
    fails({ TASKHUB_CONNECTION_REPORTS: 'mysql://x' }, /^TASKHUB_CONNECTION_REPORTS must be a postgres:\/\/ connection URL/);
    fails({ TASKHUB_CONNECTION_STORAGE: A }, /^TASKHUB_CONNECTION_STORAGE is not needed: the default connection 'Storage' is DATABASE_URL/);
  });

  it('two hubs may share a schema name on different connections (different databases)', () => {
    const c = loadConfig({ TASKHUB_HUBS: 'Billing,Audit:Reports', TASKHUB_CONNECTION_REPORTS: B, TASKHUB_HUB_AUDIT_SCHEMA: 'taskhub_billing' });
    assert.deepEqual(c.hubs.map((h) => h.schema), ['taskhub_billing', 'taskhub_billing']);
  });
});

describe('a hub view of a registry (Registry.only)', () => {
  const registry = new Registry()
    .activity('Act', async () => 1)
    .orchestration('One', function* (context) {
      return yield context.df.callActivity('Act', 1);
    })
    .orchestration('Two', { schedule: { cron: '0 * * * *' } }, function* (context) {
      return yield context.df.callActivity('Act', 2);
    });

  it('offers only the named orchestrations (any case), every activity, and what is registered later', () => {
    const view = registry.only(['two']);
    assert.deepEqual(view.listOrchestrations().map((o) => o.name), ['Two']);
    assert.equal(view.getOrchestration('One'), undefined);
    assert.equal(view.getOrchestration('TWO')?.name, 'Two');
    assert.equal(view.getActivity('act')?.name, 'Act');
    assert.equal(registry.listOrchestrations().length, 2, 'the registry itself is unchanged');
    registry.activity('Later', async () => 2);
    assert.equal(view.getActivity('Later')?.name, 'Later');
  });

  it('throws naming an orchestration that is not registered', () => {
    assert.throws(() => registry.only(['One', 'Missing']), /no orchestration registered as 'Missing'/);
  });
});

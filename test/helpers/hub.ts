/** Starts a real task hub (real Postgres, real pg-boss) in this process for a test file. */
import { loadConfig } from '../../src/config.ts';
import type { ExampleServices } from '../../src/examples/services.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { Registry } from '../../src/orchestrator/registry.ts';
import type { Instance } from '../../src/orchestrator/core/instance.ts';
import { startTaskHub, type TaskHub } from '../../src/taskhub.ts';
import type { Telemetry } from '../../src/telemetry/index.ts';
import { testRegistry } from '../fixtures/test-orchestrations.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestHub extends TaskHub {
  db: TestDatabase;
  /** Stops the hub and drops its database. */
  close(): Promise<void>;
}

export interface TestHubOptions {
  registry?: Registry;
  env?: Record<string, string>;
  listen?: boolean;
  /** Reuse a database (several hubs sharing one, as several processes would). */
  db?: TestDatabase;
  /** Metrics and traces (default: from the configuration). */
  telemetry?: Telemetry;
  /** The hub's logger (default: one at TEST_LOG_LEVEL, silent). */
  log?: Logger;
}

export async function startTestHub(options: TestHubOptions = {}): Promise<TestHub> {
  const db = options.db ?? (await createTestDatabase());
  const services: ExampleServices = { pool: undefined };
  const registry = options.registry ?? testRegistry(services);
  const config = loadConfig({
    DATABASE_URL: db.url,
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    TASKHUB_POLL_INTERVAL_MS: '200',
    ...options.env,
  });
  const hub = await startTaskHub({
    config,
    registry,
    log: options.log ?? createLogger(config.logLevel),
    connectionString: db.url,
    listen: options.listen ?? false,
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
  });
  services.pool = hub.pool;
  return {
    ...hub,
    db,
    close: async () => {
      await hub.stop();
      if (!options.db) await db.drop();
    },
  };
}

/** Polls an instance until the predicate holds (default: a terminal status). */
export async function waitForInstance(
  hub: TaskHub,
  instanceId: string,
  predicate: (row: Instance) => boolean = (row) => ['Completed', 'Failed', 'Terminated', 'Canceled'].includes(row.runtimeStatus),
  timeoutMs = 60_000,
): Promise<Instance> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await hub.client.get(instanceId);
    if (row && predicate(row)) return row;
    if (Date.now() > deadline) throw new Error(`instance ${instanceId} did not reach the expected state; last: ${row?.runtimeStatus}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function startAndWait(hub: TaskHub, name: string, input?: unknown, instanceId?: string): Promise<Instance> {
  const started = await hub.client.start({ name, instanceId, input: input === undefined ? undefined : JSON.stringify(input) });
  if (started.kind !== 'created') throw new Error('not created');
  return waitForInstance(hub, started.instanceId);
}

/**
 * Waits until the dispatcher has claimed and run a turn that fell due after everything done so
 * far: a sentinel instance (woken by an event raised now) completes. Claims take due instances in
 * wake_at order, so an instance that fell due earlier and was claimable would have been run by
 * then; one that was not run was not claimable (e.g. suspended). The event itself, not the clock.
 * Needs the Approval example in the hub's registry.
 */
export async function dispatcherPassedBy(hub: TaskHub): Promise<void> {
  const started = await hub.client.start({ name: 'Approval', input: JSON.stringify({ timeoutSeconds: 3600 }) });
  if (started.kind !== 'created') throw new Error('not created');
  const sentinel = started.instanceId;
  await waitForInstance(hub, sentinel, (r) => r.runtimeStatus === 'Running' && r.historyLength > 0);
  await hub.client.raiseEvent(sentinel, 'Approval', 'true');
  await waitForInstance(hub, sentinel);
}

/** Polls `read` until it returns something other than undefined (then returns it), or fails naming `what`. */
export async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Shared helpers of the HTTP tests: a real hub (Postgres, pg-boss, workers) and apps built on it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { type App, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { RuntimeStatus } from '../../src/orchestrator/core/statuses.ts';
import { type TestHub, waitForInstance } from '../helpers/hub.ts';

export const BASE = '/runtime/webhooks/durabletask';

/** An app over the hub's client and registry, configured from environment variables (e.g. TASKHUB_KEY). */
export async function buildHttpApp(hub: TestHub, env: Record<string, string> = {}): Promise<App> {
  const config = loadConfig({ DATABASE_URL: hub.db.url, LOG_LEVEL: 'silent', ...env });
  return buildApp({ config, client: hub.client, registry: hub.registry, health: { check: async () => [] } });
}

export function uid(prefix = 'i'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export function body<T = any>(res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T;
}

/** Starts through the engine and waits for a state (default: terminal). */
export async function startAndWaitFor(
  hub: TestHub,
  name: string,
  input: unknown,
  instanceId: string,
  until: (status: RuntimeStatus, historyLength: number) => boolean,
): Promise<void> {
  const started = await hub.client.start({ name, instanceId, input: input === undefined ? undefined : JSON.stringify(input) });
  assert.equal(started.kind, 'created');
  await waitForInstance(hub, instanceId, (row) => until(row.runtimeStatus, row.historyLength));
}

export type State = 'missing' | 'active' | 'suspended' | 'completed' | 'failed';

/**
 * An instance in a state: active is an Approval waiting an hour for its event (Running, with
 * history), suspended is that suspended, completed a HelloSequence, failed a RewindDemo.
 */
export async function instanceIn(hub: TestHub, state: State, prefix: string = state): Promise<string> {
  const id = uid(prefix);
  switch (state) {
    case 'missing':
      return id;
    case 'active':
    case 'suspended':
      await startAndWaitFor(hub, 'Approval', { timeoutSeconds: 3600 }, id, (s, n) => s === 'Running' && n > 0);
      if (state === 'suspended') await hub.client.suspend(id, 'test');
      return id;
    case 'completed':
      await startAndWaitFor(hub, 'HelloSequence', undefined, id, (s) => s === 'Completed');
      return id;
    case 'failed':
      await startAndWaitFor(hub, 'RewindDemo', undefined, id, (s) => s === 'Failed');
      return id;
  }
}

/** Every instance row (and the history and inbox row counts): to show that a request changed nothing. */
export async function snapshot(hub: TestHub): Promise<unknown> {
  const instances = await hub.pool.query(
    `SELECT instance_id, execution_id, runtime_status, input, output, custom_status, history_length, updated_at
     FROM instances ORDER BY instance_id`,
  );
  const counts = await hub.pool.query(`SELECT (SELECT count(*) FROM history) AS history, (SELECT count(*) FROM inbox) AS inbox`);
  return { instances: instances.rows, counts: counts.rows[0] };
}

/** An error body: the Durable Functions shape, and nothing about internals. */
export function assertErrorBody(res: LightMyRequestResponse, status: number, code?: string): { Message: string; code: string } {
  assert.equal(res.statusCode, status, `expected ${status}, got ${res.statusCode}: ${res.body}`);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  const parsed = body(res);
  assert.equal(typeof parsed.Message, 'string');
  assert.ok(parsed.Message.length > 0);
  // Durable Functions' fields beside ours (the Python client reads ExceptionMessage).
  assert.equal(parsed.ExceptionMessage, parsed.Message, res.body);
  assert.match(parsed.ExceptionType, /^PgTaskHub\.[A-Z][A-Za-z]+Exception$/, res.body);
  assert.equal(parsed.StackTrace, '', res.body);
  if (code !== undefined) assert.equal(parsed.code, code, res.body);
  assertNoInternals(res.body);
  return parsed;
}

export function assertNoInternals(text: string): void {
  for (const leak of [/\n\s+at /, /file:\/\//, /node_modules/, /\/work\//, /\bSELECT\b/, /\bINSERT\b/, /\bUPDATE\b.*\bSET\b/, /SQLSTATE|\b23505\b|syntax error at/i]) {
    assert.doesNotMatch(text, leak, `the body leaks internals: ${text}`);
  }
}

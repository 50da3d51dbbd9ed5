/**
 * The starts counter tells the outcomes of concurrency control apart: a start that waits in its
 * key's queue is `queued`, one that joins a debounce window `debounced`, a refused one `conflict`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { Telemetry } from '../../src/telemetry/index.ts';
import { register } from '../fixtures/concurrency-orchestrations.ts';
import { testRegistry } from '../fixtures/test-orchestrations.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { sample } from '../helpers/prometheus.ts';
import { BASE } from './support.ts';

describe('concurrency outcomes in /metrics', () => {
  let hub: TestHub;
  let app: App;
  const telemetry = new Telemetry({ metrics: true }, createLogger('silent'));

  before(async () => {
    hub = await startTestHub({ telemetry, registry: register(testRegistry()) });
    const config = loadConfig({ DATABASE_URL: hub.db.url, LOG_LEVEL: 'silent' });
    app = await buildApp({ config, client: hub.client, registry: hub.registry, health: { check: async () => [] }, telemetry });
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('counts accepted, queued, debounced and conflict starts', async () => {
    const post = async (name: string, input: unknown): Promise<number> =>
      (await app.inject({ method: 'POST', url: `${BASE}/orchestrators/${name}`, payload: JSON.stringify(input) })).statusCode;
    assert.deepEqual([await post('QueuedPair', { tenant: 'm' }), await post('QueuedPair', { tenant: 'm' }), await post('QueuedPair', { tenant: 'm' })], [202, 202, 202]);
    assert.deepEqual([await post('LimitedOne', null), await post('LimitedOne', null)], [202, 409]);
    assert.deepEqual([await post('Debounced', 1), await post('Debounced', 2)], [202, 202]);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'QueuedPair', outcome: 'accepted' }), 2);
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'QueuedPair', outcome: 'queued' }), 1);
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'LimitedOne', outcome: 'conflict' }), 1);
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'Debounced', outcome: 'debounced' }), 2);
  });
});

/**
 * Starts refused by the rate limit (429) never reach the engine: the HTTP hook counts them as
 * taskhub_starts_total{outcome="rate_limited"}, under the registered name only (no label from raw
 * input), next to the accepted ones the engine counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { Telemetry } from '../../src/telemetry/index.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { sample } from '../helpers/prometheus.ts';
import { BASE } from './support.ts';

describe('rate-limited starts in /metrics', () => {
  let hub: TestHub;
  let app: App;
  const telemetry = new Telemetry({ metrics: true }, createLogger('silent'));

  before(async () => {
    hub = await startTestHub({ telemetry });
    const config = loadConfig({ DATABASE_URL: hub.db.url, LOG_LEVEL: 'silent', TASKHUB_START_RATE_LIMIT: '1' });
    app = await buildApp({ config, client: hub.client, registry: hub.registry, health: { check: async () => [] }, telemetry });
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('counts a 429 as rate_limited and the 202 as accepted', async () => {
    const codes: number[] = [];
    // One start per second is allowed: of three in a row, at least one is refused.
    for (let i = 0; i < 3; i++) codes.push((await app.inject({ method: 'POST', url: `${BASE}/orchestrators/helloSEQUENCE` })).statusCode);
    assert.ok(codes.includes(202) && codes.includes(429), `answers: ${codes}`);
    assert.equal((await app.inject({ method: 'POST', url: `${BASE}/orchestrators/NoSuchOne` })).statusCode, 429);
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'HelloSequence', outcome: 'rate_limited' }), codes.filter((c) => c === 429).length);
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'HelloSequence', outcome: 'accepted' }), codes.filter((c) => c === 202).length);
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'NoSuchOne' }), undefined);
  });
});

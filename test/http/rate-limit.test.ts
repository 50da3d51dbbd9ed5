/** A start flood beyond TASKHUB_START_RATE_LIMIT gets 429 in the DF error shape, and nothing is created for it. */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

let hub: TestHub;
let app: FastifyInstance;

/** The limit's clock, moved by the test: the 60 starts land in one window whatever the machine's speed. */
let now = 1_000_000;

before(async () => {
  hub = await startTestHub({ env: { TASKHUB_START_RATE_LIMIT: '20' } });
  app = await buildApp({ config: hub.config, client: hub.client, registry: hub.registry, health: { check: async () => [] }, clock: () => now });
});
after(async () => {
  await app?.close();
  await hub?.close();
});

it('answers 429 beyond the configured starts per second, and other routes are not limited', async () => {
  const answers = await Promise.all(
    Array.from({ length: 60 }, () => app.inject({ method: 'POST', url: '/runtime/webhooks/durabletask/orchestrators/HelloSequence' })),
  );
  const accepted = answers.filter((a) => a.statusCode === 202).length;
  const limited = answers.filter((a) => a.statusCode === 429);
  assert.equal(accepted, 20);
  assert.equal(limited.length, 40);
  assert.equal(answers.filter((a) => a.statusCode >= 500).length, 0);
  const body = limited[0]?.json() as { Message: string; code: string };
  assert.equal(body.code, 'RATE_LIMITED');
  assert.match(body.Message, /More than 20 starts per second/);
  assert.equal(limited[0]?.headers['retry-after'], '1');
  const { rows } = await hub.pool.query('SELECT count(*)::int AS n FROM instances');
  assert.equal(rows[0].n, 20, 'a limited start creates nothing');
  const list = await app.inject({ method: 'GET', url: '/runtime/webhooks/durabletask/instances' });
  assert.equal(list.statusCode, 200);
  now += 1000;
  const later = await app.inject({ method: 'POST', url: '/runtime/webhooks/durabletask/orchestrators/HelloSequence' });
  assert.equal(later.statusCode, 202, 'the window moves on');
});

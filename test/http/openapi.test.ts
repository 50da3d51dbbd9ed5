/**
 * The committed OpenAPI document (openapi/openapi.json) is the one the routes generate; it is
 * served at /openapi.json. Regenerate after a route change with:
 *   UPDATE_OPENAPI=1 DATABASE_URL=… npm test -- test/http/openapi
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { buildHttpApp } from './support.ts';

const FILE = path.resolve('openapi/openapi.json');

describe('OpenAPI document', () => {
  let hub: TestHub;
  let app: App;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('is served at /openapi.json', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = JSON.parse(res.body);
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/runtime/webhooks/durabletask/instances/{instanceId}']);
    assert.equal(doc.paths['/openapi.json'], undefined);
  });

  it('matches the committed openapi/openapi.json', async () => {
    const generated = `${JSON.stringify(app.swagger(), null, 2)}\n`;
    if (process.env.UPDATE_OPENAPI === '1') {
      mkdirSync(path.dirname(FILE), { recursive: true });
      writeFileSync(FILE, generated);
    }
    let committed = '';
    try {
      committed = readFileSync(FILE, 'utf8');
    } catch {
      assert.fail(`${FILE} is missing: run UPDATE_OPENAPI=1 npm test -- test/http/openapi`);
    }
    assert.ok(committed === generated, 'openapi/openapi.json is stale: run UPDATE_OPENAPI=1 npm test -- test/http/openapi');
  });
});

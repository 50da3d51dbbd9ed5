/**
 * The committed API artifacts are what the routes generate: openapi/openapi.json (the OpenAPI 3.1
 * document, served at /openapi.json) and src/client/schema.ts (its TypeScript types, the typed
 * client's). Both are written by `npm run openapi` (scripts/openapi.ts); this test fails when either
 * is stale. The reference at /docs (@fastify/swagger-ui) is public, like the document, and stays
 * out of it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLIENT_SCHEMA, generateDocument, generateFiles, OPENAPI_JSON, ROOT } from '../../scripts/openapi.ts';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { BASE, buildHttpApp } from './support.ts';

const REGENERATE = 'run `npm run openapi` and commit the result';

describe('OpenAPI document', () => {
  let hub: TestHub;
  let app: App;
  let keyed: App;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    keyed = await buildHttpApp(hub, { TASKHUB_KEY: 'test-key-9f2c' });
  });
  after(async () => {
    await app?.close();
    await keyed?.close();
    await hub?.close();
  });

  it('is served at /openapi.json, without the swagger-ui routes or itself', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = JSON.parse(res.body);
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/runtime/webhooks/durabletask/instances/{instanceId}']);
    const paths = Object.keys(doc.paths);
    assert.deepEqual(paths.filter((p) => !p.startsWith(BASE) && p !== '/healthz' && p !== '/readyz'), [], 'only the API is documented');
    assert.deepEqual(paths.filter((p) => /docs|static|openapi/i.test(p)), []);
  });

  it('is the document scripts/openapi.ts generates without a database (the client and registry do not change it)', async () => {
    const served = JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body);
    assert.deepEqual(served, await generateDocument());
  });

  for (const file of [OPENAPI_JSON, CLIENT_SCHEMA]) {
    it(`matches the committed ${file}`, async () => {
      const generated = (await generateFiles())[file];
      assert.ok(generated !== undefined && generated.length > 0);
      let committed: string;
      try {
        committed = readFileSync(path.join(ROOT, file), 'utf8');
      } catch {
        assert.fail(`${file} is missing: ${REGENERATE}`);
      }
      assert.ok(committed === generated, `${file} is stale: ${REGENERATE}`);
    });
  }

  it('the generated types name every documented path', async () => {
    const doc = await generateDocument();
    const types = (await generateFiles())[CLIENT_SCHEMA] as string;
    for (const p of Object.keys(doc.paths as object)) assert.ok(types.includes(`"${p}": {`), `the types lack ${p}`);
  });

  it('/docs serves the interactive reference (HTML) and /docs/json the same document', async () => {
    for (const url of ['/docs', '/docs/']) {
      const page = await app.inject({ method: 'GET', url });
      assert.equal(page.statusCode, 200, url);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body, /swagger-ui/i);
    }
    const json = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(json.statusCode, 200);
    assert.deepEqual(JSON.parse(json.body), JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body));
    for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui.css']) {
      const res = await app.inject({ method: 'GET', url: asset });
      assert.equal(res.statusCode, 200, asset);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/docs/static/nope.js' })).statusCode, 404);
  });

  it('with TASKHUB_KEY set, /docs and /openapi.json stay public and carry no key; the control plane still needs it', async () => {
    for (const url of ['/docs', '/docs/json', '/docs/static/swagger-initializer.js', '/openapi.json']) {
      const res = await keyed.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.doesNotMatch(res.body, /test-key-9f2c/, `${url} leaks the key`);
    }
    assert.equal((await keyed.inject({ method: 'GET', url: `${BASE}/instances` })).statusCode, 401);
    const withKey = await keyed.inject({ method: 'GET', url: `${BASE}/instances`, headers: { 'x-functions-key': 'test-key-9f2c' } });
    assert.equal(withKey.statusCode, 200);
  });
});

/**
 * What the control plane refuses, and how: the system key, the task hub name, a corpus of bad
 * requests (each a 4xx in the Durable Functions error shape, nothing internal in the body, no row
 * changed), the body limit, unknown routes, wrong methods; and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { assertErrorBody, assertNoInternals, BASE, body, buildHttpApp, instanceIn, snapshot, uid } from './support.ts';

describe('hardening', () => {
  let hub: TestHub;
  let app: App;
  let active: string;
  let completed: string;
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
    active = await instanceIn(hub, 'active');
    completed = await instanceIn(hub, 'completed');
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  describe('system key (TASKHUB_KEY)', () => {
    const KEY = 's3cr&t=?';
    let secured: App;
    before(async () => {
      secured = await buildHttpApp(hub, { TASKHUB_KEY: KEY });
    });
    after(async () => {
      await secured?.close();
    });

    it('answers 401 with an empty body without the key, or with a wrong one', async () => {
      const before = await snapshot(hub);
      const attempts: InjectOptions[] = [
        { method: 'GET', url: `${BASE}/instances` },
        { method: 'GET', url: `${BASE}/instances/${active}`, headers: { 'x-functions-key': 'wrong' } },
        { method: 'GET', url: `${BASE}/instances/${active}?code=wrong` },
        { method: 'GET', url: `${BASE}/instances/${active}?code=${encodeURIComponent(KEY)}`, headers: { 'x-functions-key': 'wrong' } },
        { method: 'GET', url: `${BASE}/instances/${active}`, headers: { 'x-functions-key': '' } },
        { method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, payload: '{not json', headers: { 'content-type': 'application/json' } },
        { method: 'POST', url: `${BASE}/instances/${active}/terminate` },
        { method: 'DELETE', url: `${BASE}/instances/${completed}` },
        { method: 'GET', url: `${BASE}/orchestrators` },
        { method: 'GET', url: `${BASE}/no/such/route` },
      ];
      for (const attempt of attempts) {
        const res = await secured.inject(attempt);
        assert.equal(res.statusCode, 401, `${attempt.method} ${attempt.url}: ${res.body}`);
        assert.equal(res.body, '');
      }
      assert.deepEqual(await snapshot(hub), before);
    });

    it('accepts the key in the x-functions-key header or the code parameter (any case)', async () => {
      const encoded = encodeURIComponent(KEY);
      for (const attempt of [
        { url: `${BASE}/instances/${active}`, headers: { 'x-functions-key': KEY } },
        { url: `${BASE}/instances/${active}?code=${encoded}` },
        { url: `${BASE}/instances/${active}?CODE=${encoded}` },
        { url: `${BASE}/instances/${active}?code=wrong`, headers: { 'X-Functions-Key': KEY } },
      ]) {
        const res = await secured.inject({ method: 'GET', ...attempt });
        assert.equal(res.statusCode, 202, `${attempt.url}: ${res.body}`);
      }
    });

    it('puts the key in the management URIs, and they work', async () => {
      const res = await secured.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, headers: { 'x-functions-key': KEY } });
      assert.equal(res.statusCode, 202);
      const payload = body(res);
      for (const [name, uri] of Object.entries<string>(payload)) {
        if (name !== 'id') assert.ok(uri.endsWith(`&code=${encodeURIComponent(KEY)}`), uri);
      }
      const status = await secured.inject({ method: 'GET', url: new URL(payload.statusQueryGetUri).pathname + new URL(payload.statusQueryGetUri).search });
      assert.ok([200, 202].includes(status.statusCode), status.body);
      assert.equal(body(status).instanceId, payload.id);
      await waitForInstance(hub, payload.id);
    });

    it('does not guard the health probes', async () => {
      assert.equal((await secured.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    });
  });

  describe('taskHub and connection', () => {
    it('accepts this hub in any case, on its connection (Storage, any case) or none', async () => {
      for (const q of ['taskHub=TaskHub', 'TASKHUB=taskhub', 'taskHub=', 'connection=storage', 'connection=', 'taskHub=TaskHub&connection=Storage']) {
        const res = await app.inject({ method: 'GET', url: `${BASE}/instances/${completed}?${q}` });
        assert.equal(res.statusCode, 200, `${q}: ${res.body}`);
      }
    });

    it('answers 404 naming a connection that is not configured, before doing anything', async () => {
      const before = await snapshot(hub);
      for (const q of ['connection=Whatever', 'taskHub=TaskHub&connection=Whatever']) {
        const err = assertErrorBody(await app.inject({ method: 'DELETE', url: `${BASE}/instances/${completed}?${q}` }), 404, 'TASK_HUB_NOT_FOUND');
        assert.match(err.Message, /connection 'Whatever' is not configured/);
      }
      assert.deepEqual(await snapshot(hub), before);
    });

    it('answers 404 with a message for another hub, on every route, before doing anything', async () => {
      const before = await snapshot(hub);
      for (const [method, path] of [
        ['GET', `instances/${completed}`],
        ['GET', 'instances'],
        ['DELETE', `instances/${completed}`],
        ['POST', `instances/${active}/terminate`],
        ['POST', 'orchestrators/HelloSequence'],
        ['GET', 'orchestrators'],
      ] as const) {
        const err = assertErrorBody(await app.inject({ method, url: `${BASE}/${path}?taskHub=OtherHub` }), 404, 'TASK_HUB_NOT_FOUND');
        assert.match(err.Message, /OtherHub/);
      }
      assert.deepEqual(await snapshot(hub), before);
    });
  });

  describe('bad requests', () => {
    const json = { 'content-type': 'application/json' };
    const corpus: Array<[string, () => InjectOptions, number, string?]> = [
      ['malformed JSON input', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, payload: '{"a":', headers: json }), 400, 'INVALID_JSON'],
      ['XML input', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, payload: '<a/>', headers: { 'content-type': 'application/xml' } }), 400, 'INVALID_JSON'],
      ['a NUL byte as input', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, payload: '"\u0000"', headers: json }), 400, 'INVALID_JSON'],
      ['unknown orchestrator', () => ({ method: 'POST', url: `${BASE}/orchestrators/Nope` }), 400, 'UNKNOWN_ORCHESTRATOR'],
      ['orchestrator name with a NUL', () => ({ method: 'POST', url: `${BASE}/orchestrators/Hello%00Sequence` }), 400, 'UNKNOWN_ORCHESTRATOR'],
      ["ID starting with '@'", () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence/%40x` }), 400, 'INVALID_INSTANCE_ID'],
      ["ID with an encoded '/'", () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence/a%2Fb` }), 400, 'INVALID_INSTANCE_ID'],
      ['ID of 257 characters', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence/${'z'.repeat(257)}` }), 400, 'INVALID_INSTANCE_ID'],
      ['ID of 257 encoded characters', () => ({ method: 'GET', url: `${BASE}/instances/${'%C3%A9'.repeat(257)}` }), 400, 'INVALID_INSTANCE_ID'],
      ['ID with NUL', () => ({ method: 'GET', url: `${BASE}/instances/a%00b` }), 400, 'INVALID_INSTANCE_ID'],
      ['ID with a control character', () => ({ method: 'DELETE', url: `${BASE}/instances/a%1Bb` }), 400, 'INVALID_INSTANCE_ID'],
      ['ID with a C1 control character', () => ({ method: 'POST', url: `${BASE}/instances/a%C2%85b/terminate` }), 400, 'INVALID_INSTANCE_ID'],
      ["ID with '#'", () => ({ method: 'POST', url: `${BASE}/instances/a%23b/raiseEvent/E`, payload: '1', headers: json }), 400, 'INVALID_INSTANCE_ID'],
      ['bad percent-encoding', () => ({ method: 'GET', url: `${BASE}/instances/%E0%A4%A` }), 400, 'BAD_REQUEST'],
      ['an overlong path segment', () => ({ method: 'GET', url: `${BASE}/instances/${'w'.repeat(5000)}` }), 400, 'BAD_REQUEST'],
      ['top=0', () => ({ method: 'GET', url: `${BASE}/instances?top=0` }), 400, 'VALIDATION'],
      ['top=-1', () => ({ method: 'GET', url: `${BASE}/instances?top=-1` }), 400, 'VALIDATION'],
      ['top=abc', () => ({ method: 'GET', url: `${BASE}/instances?top=abc` }), 400, 'VALIDATION'],
      ['top twice', () => ({ method: 'GET', url: `${BASE}/instances?top=1&TOP=2` }), 400, 'VALIDATION'],
      ['a bad date', () => ({ method: 'GET', url: `${BASE}/instances?createdTimeFrom=2024-02-31` }), 400, 'VALIDATION'],
      ['a date that is SQL', () => ({ method: 'GET', url: `${BASE}/instances?createdTimeTo=${encodeURIComponent("now()'; --")}` }), 400, 'VALIDATION'],
      ['a prefix with NUL', () => ({ method: 'GET', url: `${BASE}/instances?instanceIdPrefix=a%00` }), 400, 'VALIDATION'],
      ['a forged continuation token', () => ({ method: 'GET', url: `${BASE}/instances`, headers: { 'x-ms-continuation-token': 'eyJ2IjoxfQ' } }), 400, 'INVALID_CONTINUATION_TOKEN'],
      ['purge many without createdTimeFrom', () => ({ method: 'DELETE', url: `${BASE}/instances?createdTimeTo=2099-01-01` }), 400, 'VALIDATION'],
      ['an event name with NUL', () => ({ method: 'POST', url: `${BASE}/instances/${active}/raiseEvent/a%00`, payload: '1', headers: json }), 400, 'VALIDATION'],
      ['an event as text/plain', () => ({ method: 'POST', url: `${BASE}/instances/${active}/raiseEvent/Approval`, payload: 'true', headers: { 'content-type': 'text/plain' } }), 400, 'INVALID_CONTENT_TYPE'],
      ['an empty event', () => ({ method: 'POST', url: `${BASE}/instances/${active}/raiseEvent/Approval`, headers: json }), 400, 'INVALID_JSON'],
      ['a reason with NUL', () => ({ method: 'POST', url: `${BASE}/instances/${active}/suspend?reason=%00` }), 400, 'VALIDATION'],
      ['pollingInterval > timeout', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence?timeout=1&pollingInterval=9` }), 400, 'VALIDATION'],
      ['unknown onConflict', () => ({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence?onConflict=yolo` }), 400, 'VALIDATION'],
      ['unknown route', () => ({ method: 'GET', url: `${BASE}/nope` }), 404, 'NOT_FOUND'],
      ['the base path', () => ({ method: 'GET', url: BASE }), 404, 'NOT_FOUND'],
      ['an unknown action', () => ({ method: 'POST', url: `${BASE}/instances/${active}/explode` }), 404, 'NOT_FOUND'],
      ['an unknown route with a bad JSON body', () => ({ method: 'POST', url: `${BASE}/nope`, payload: '{', headers: json }), 404, 'NOT_FOUND'],
      ['an entity key with NUL', () => ({ method: 'GET', url: `${BASE}/entities/Counter/a%00b` }), 400, 'VALIDATION'],
      ['an entity name with @', () => ({ method: 'POST', url: `${BASE}/entities/a%40b/k?op=add` }), 400, 'VALIDATION'],
      ['an entity operation of malformed JSON', () => ({ method: 'POST', url: `${BASE}/entities/Counter/k?op=add`, payload: '{"a":', headers: json }), 400, 'INVALID_JSON'],
      ['signal an unknown entity', () => ({ method: 'POST', url: `${BASE}/entities/Nope/k?op=add` }), 400, 'UNKNOWN_ENTITY'],
      ['a forged entity continuation token', () => ({ method: 'GET', url: `${BASE}/entities`, headers: { 'x-ms-continuation-token': 'eyJ2IjoxfQ' } }), 400, 'INVALID_CONTINUATION_TOKEN'],
      ['PUT an entity', () => ({ method: 'PUT', url: `${BASE}/entities/Counter/k` }), 405, 'METHOD_NOT_ALLOWED'],
      ['PUT an instance', () => ({ method: 'PUT', url: `${BASE}/instances/${active}`, payload: '{', headers: json }), 405, 'METHOD_NOT_ALLOWED'],
      ['GET a start', () => ({ method: 'GET', url: `${BASE}/orchestrators/HelloSequence` }), 405, 'METHOD_NOT_ALLOWED'],
      ['DELETE orchestrators', () => ({ method: 'DELETE', url: `${BASE}/orchestrators` }), 405, 'METHOD_NOT_ALLOWED'],
      ['GET terminate', () => ({ method: 'GET', url: `${BASE}/instances/${active}/terminate` }), 405, 'METHOD_NOT_ALLOWED'],
      ['PATCH instances', () => ({ method: 'PATCH', url: `${BASE}/instances` }), 405, 'METHOD_NOT_ALLOWED'],
    ];

    it('each is refused with the right 4xx, the DF error shape, nothing internal, and no row changed', async () => {
      const before = await snapshot(hub);
      for (const [name, make, status, code] of corpus) {
        const res = await app.inject(make());
        assert.equal(res.statusCode, status, `${name}: ${res.statusCode} ${res.body}`);
        assertErrorBody(res, status, code);
      }
      assert.deepEqual(await snapshot(hub), before);
    });

    it('405 names the allowed methods', async () => {
      const res = await app.inject({ method: 'PUT', url: `${BASE}/instances/${active}` });
      assert.equal(res.headers.allow, 'DELETE, GET');
      assert.equal((await app.inject({ method: 'GET', url: `${BASE}/orchestrators/X` })).headers.allow, 'POST');
    });

    it('booleans that are not true/false mean the default', async () => {
      const res = await app.inject({ method: 'GET', url: `${BASE}/instances/${completed}?showHistory=yes&showInput=0&showHistoryOutput=maybe` });
      assert.equal(res.statusCode, 200);
      assert.equal(body(res).historyEvents, undefined);
      assert.notEqual(body(res).input, undefined);
      const restarted = await app.inject({ method: 'POST', url: `${BASE}/instances/${completed}/restart?restartWithNewInstanceId=nah` });
      assert.equal(restarted.statusCode, 202);
      assert.notEqual(body(restarted).id, completed, 'the default: a new ID');
      await waitForInstance(hub, body(restarted).id);
    });

    it('literal path segments ignore case, trailing and doubled slashes; IDs keep their case', async () => {
      const id = uid('MixedCase');
      assert.equal((await app.inject({ method: 'POST', url: `/RUNTIME/WebHooks/DurableTask/Orchestrators/HelloSequence/${id}/` })).statusCode, 202);
      for (const url of [`/runtime/webhooks/durabletask/INSTANCES/${id}`, `${BASE}/instances/${id}/`, `${BASE}//instances/${id}`]) {
        const res = await app.inject({ method: 'GET', url });
        assert.ok([200, 202].includes(res.statusCode), `${url}: ${res.statusCode}`);
        assert.equal(body(res).instanceId, id);
      }
      assert.equal((await app.inject({ method: 'GET', url: `${BASE}/instances/${id.toLowerCase()}` })).statusCode, 404);
      await waitForInstance(hub, id);
    });
  });

  describe('body limit (TASKHUB_BODY_LIMIT)', () => {
    let small: App;
    before(async () => {
      small = await buildHttpApp(hub, { TASKHUB_BODY_LIMIT: '1024' });
    });
    after(async () => {
      await small?.close();
    });

    it('answers 413 for a larger body and writes nothing; a body under the limit is fine', async () => {
      const before = await snapshot(hub);
      const big = JSON.stringify({ data: 'x'.repeat(2000) });
      for (const url of [`${BASE}/orchestrators/HelloSequence`, `${BASE}/orchestrators/HelloSequence/${uid()}`, `${BASE}/instances/${active}/raiseEvent/Approval`]) {
        const res = await small.inject({ method: 'POST', url, payload: big, headers: { 'content-type': 'application/json' } });
        assertErrorBody(res, 413, 'PAYLOAD_TOO_LARGE');
      }
      assert.deepEqual(await snapshot(hub), before);
      const fits = await small.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, payload: JSON.stringify({ data: 'x'.repeat(900) }) });
      assert.equal(fits.statusCode, 202);
      await waitForInstance(hub, body(fits).id);
    });
  });

  describe('OpenAPI', () => {
    /** The responses each control-plane operation documents. */
    const EXPECTED: Record<string, number[]> = {
      'POST /orchestrators/{functionName}': [200, 202, 400, 401, 404, 409, 413, 429, 500],
      'POST /orchestrators/{functionName}/{instanceId}': [200, 202, 400, 401, 404, 409, 413, 429, 500],
      'GET /orchestrators': [200, 400, 401, 404],
      'GET /instances/{instanceId}': [200, 202, 400, 401, 404, 500],
      'DELETE /instances/{instanceId}': [200, 400, 401, 404, 413],
      'GET /instances': [200, 400, 401, 404],
      'DELETE /instances': [200, 400, 401, 404, 413],
      'POST /instances/{instanceId}/raiseEvent/{eventName}': [202, 400, 401, 404, 410, 413],
      'POST /instances/{instanceId}/terminate': [202, 400, 401, 404, 410, 413],
      'POST /instances/{instanceId}/suspend': [202, 400, 401, 404, 409, 410, 413],
      'POST /instances/{instanceId}/resume': [202, 400, 401, 404, 409, 410, 413],
      'POST /instances/{instanceId}/rewind': [202, 400, 401, 404, 409, 410, 412, 413],
      'POST /instances/{instanceId}/restart': [200, 202, 400, 401, 404, 409, 413, 429, 500],
      'GET /schedules': [200, 400, 401, 404],
      'GET /taskhubs': [200, 400, 401, 404],
      'GET /counts': [200, 400, 401, 404],
      'GET /schedules/{name}/ticks': [200, 400, 401, 404],
      'GET /concurrency': [200, 400, 401, 404],
      'POST /entities/{name}/{key}': [202, 400, 401, 404, 413],
      'DELETE /entities/{name}/{key}': [202, 400, 401, 404],
      'GET /entities/{name}/{key}': [200, 400, 401, 404],
      'GET /entities': [200, 400, 401, 404],
      'GET /entities/{name}': [200, 400, 401, 404],
    };

    it('documents every control-plane route: tags, summary, parameters and every response, with descriptions', async () => {
      await app.ready();
      const doc = app.swagger() as { paths: Record<string, Record<string, any>> };
      const found: Record<string, number[]> = {};
      for (const [path, operations] of Object.entries(doc.paths)) {
        if (!path.startsWith(BASE)) continue;
        for (const [method, op] of Object.entries(operations)) {
          const key = `${method.toUpperCase()} ${path.slice(BASE.length)}`;
          found[key] = Object.keys(op.responses).map(Number).sort((a, b) => a - b);
          assert.ok(op.tags?.length > 0, `${key}: tags`);
          assert.ok(op.summary, `${key}: summary`);
          for (const [code, response] of Object.entries<any>(op.responses)) assert.ok(response.description, `${key} ${code}: description`);
          for (const p of op.parameters ?? []) assert.ok(p.description || p.schema?.description, `${key}: parameter ${p.name} has no description`);
        }
      }
      assert.deepEqual(found, EXPECTED);
    });

    it('documents the status payload, its field order and the response headers', async () => {
      const doc = app.swagger() as { paths: Record<string, Record<string, any>> };
      const status = doc.paths[`${BASE}/instances/{instanceId}`]!.get;
      const schema = status.responses['200'].content['application/json'].schema;
      assert.deepEqual(Object.keys(schema.properties), [
        'name', 'instanceId', 'runtimeStatus', 'input', 'customStatus', 'output', 'createdTime', 'lastUpdatedTime', 'waiting', 'historyEvents',
      ]);
      assert.deepEqual(Object.keys(status.responses['202'].headers), ['location', 'retry-after']);
      assert.ok(doc.paths[`${BASE}/instances`]!.get.responses['200'].headers['x-ms-continuation-token']);
      assertNoInternals(JSON.stringify(doc));
    });
  });
});

/**
 * The entity routes through inject, on a real hub: signal (202; JSON, text and empty bodies), read
 * (200 / 404, `$` for the empty key), list (fetchState, lastOperationTime filters, top and the
 * continuation header), delete (the built-in delete operation), and hostile input: clear 4xx,
 * nothing written, never a 5xx.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { App } from '../../src/app.ts';
import { startTestHub, type TestHub, until } from '../helpers/hub.ts';
import { assertErrorBody, BASE, body, buildHttpApp, uid } from './support.ts';


describe('entity routes', () => {
  let hub: TestHub;
  let app: App;
  const json = { 'content-type': 'application/json' };
  const read = async (key: string) => app.inject({ method: 'GET', url: `${BASE}/entities/Counter/${encodeURIComponent(key)}` });
  const valueOf = (key: string, expected: unknown) =>
    until(`Counter/${key} = ${JSON.stringify(expected)}`, async () => {
      const res = await read(key);
      return res.statusCode === 200 && JSON.stringify(body(res)) === JSON.stringify(expected) ? true : undefined;
    });
  const entityRows = async () => Number((await hub.pool.query(`SELECT count(*) AS n FROM instances WHERE starts_with(instance_id, '@')`)).rows[0].n);
  before(async () => {
    hub = await startTestHub();
    app = await buildHttpApp(hub);
  });
  after(async () => {
    await app?.close();
    await hub?.close();
  });

  it('signal: 202 with an empty body; the operation runs; GET reads the state', async () => {
    const key = uid('c');
    assert.equal((await read(key)).statusCode, 404, 'no state yet');
    const res = await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/${key}?op=add`, headers: json, payload: '5' });
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.body, '');
    await valueOf(key, 5);
    const get = await read(key);
    assert.equal(get.headers['content-type'], 'application/json; charset=utf-8');
    // Names are case-insensitive (the id is @counter@key), the op name is as sent.
    await app.inject({ method: 'POST', url: `${BASE}/ENTITIES/counter/${key}?OP=add`, headers: json, payload: '2' });
    await valueOf(key, 7);
    await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/${key}?op=reset` });
    await valueOf(key, 0);
  });

  it('the input: JSON with application/json, a string with another type, none without a body', async () => {
    const key = uid('c');
    // Counter.add of a string is an error (the state stays as it was): it proves the text arrived as a string.
    await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/${key}?op=add`, headers: { 'content-type': 'text/plain' }, payload: '3' });
    await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/${key}?op=add` }); // no input: add 1
    await valueOf(key, 1);
  });

  it('the empty key is $; DELETE sends the built-in delete (202), then the entity reads 404', async () => {
    assert.equal((await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/$?op=add`, headers: json, payload: '4' })).statusCode, 202);
    await valueOf('$', 4);
    assert.equal((await hub.client.entities.get('Counter', ''))?.state, '4');
    const del = await app.inject({ method: 'DELETE', url: `${BASE}/entities/Counter/$` });
    assert.equal(del.statusCode, 202);
    await until('deleted', async () => ((await read('$')).statusCode === 404 ? true : undefined));
  });

  it('list: fetchState, the name filter, lastOperationTime filters, top and the continuation header', async () => {
    const keys = [uid('l'), uid('l'), uid('l')];
    const before = new Date(Date.now() - 1000).toISOString();
    for (const key of keys) await app.inject({ method: 'POST', url: `${BASE}/entities/Counter/${key}?op=add`, headers: json, payload: '1' });
    for (const key of keys) await valueOf(key, 1);
    const seen: Array<{ entityId: { name: string; key: string }; lastOperationTime: string; state?: unknown }> = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await app.inject({
        method: 'GET',
        url: `${BASE}/entities/counter?fetchState=true&top=2&lastOperationTimeFrom=${before}`,
        headers: token ? { 'x-ms-continuation-token': token } : {},
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = body(res);
      assert.ok(page.length <= 2);
      seen.push(...page);
      token = res.headers['x-ms-continuation-token'] as string | undefined;
      pages++;
    } while (token);
    assert.ok(pages >= 2, 'paged');
    for (const key of keys) {
      const found = seen.find((e) => e.entityId.key === key);
      assert.ok(found, key);
      assert.equal(found.entityId.name, 'counter');
      assert.equal(found.state, 1);
      assert.ok(!Number.isNaN(Date.parse(found.lastOperationTime)));
    }
    const withoutState = body(await app.inject({ method: 'GET', url: `${BASE}/entities` }));
    assert.ok(withoutState.length >= 3 && withoutState.every((e: object) => !('state' in e)));
    const future = body(await app.inject({ method: 'GET', url: `${BASE}/entities?lastOperationTimeFrom=2999-01-01T00:00:00Z` }));
    assert.deepEqual(future, []);
    const old = body(await app.inject({ method: 'GET', url: `${BASE}/entities/Counter?lastOperationTimeTo=2000-01-01T00:00:00Z` }));
    assert.deepEqual(old, []);
    // Entities are not instances.
    const instances = body(await app.inject({ method: 'GET', url: `${BASE}/instances?top=1000` }));
    assert.ok(instances.every((i: { instanceId: string }) => !i.instanceId.startsWith('@')));
  });

  it('hostile input: a clear 4xx, nothing written', async () => {
    const rows = await entityRows();
    const cases: Array<[string, string, Record<string, string>, string | undefined, number, string | undefined]> = [
      ['POST', `/entities/Counter/${uid('h')}?op=add`, json, '{not json', 400, 'INVALID_JSON'],
      ['POST', `/entities/No@pe/k?op=add`, {}, undefined, 400, undefined],
      ['POST', `/entities/Counter/a%00b?op=add`, {}, undefined, 400, undefined],
      ['POST', `/entities/Counter/a%0Ab?op=add`, {}, undefined, 400, undefined],
      ['POST', `/entities/Counter/${'k'.repeat(300)}?op=add`, {}, undefined, 400, undefined],
      ['POST', `/entities/Counter/k?op=${'o'.repeat(300)}`, {}, undefined, 400, undefined],
      ['POST', `/entities/Counter/k?op=a%01b`, {}, undefined, 400, undefined],
      ['POST', `/entities/Nobody/k?op=add`, {}, undefined, 400, 'UNKNOWN_ENTITY'],
      ['POST', `/entities/${'n'.repeat(200)}/k?op=add`, {}, undefined, 400, undefined],
      ['GET', `/entities/Counter/a%00b`, {}, undefined, 400, undefined],
      ['GET', `/entities?top=0`, {}, undefined, 400, undefined],
      ['GET', `/entities?top=1e309`, {}, undefined, 400, undefined],
      ['GET', `/entities?lastOperationTimeFrom=yesterday`, {}, undefined, 400, undefined],
      ['GET', `/entities/1abc`, {}, undefined, 400, undefined],
      ['DELETE', `/entities/Nobody/k`, {}, undefined, 400, 'UNKNOWN_ENTITY'],
    ];
    for (const [method, url, headers, payload, status, code] of cases) {
      const res = await app.inject({ method: method as 'GET', url: `${BASE}${url}`, headers, ...(payload === undefined ? {} : { payload }) });
      assertErrorBody(res, status, code);
    }
    for (const token of ['garbage!', 'eyJ2IjoxLCJlIjoieCJ9', Buffer.from('{"v":1,"e":"@a"}').toString('base64url')]) {
      assertErrorBody(await app.inject({ method: 'GET', url: `${BASE}/entities`, headers: { 'x-ms-continuation-token': token } }), 400, 'INVALID_CONTINUATION_TOKEN');
    }
    assert.equal(await entityRows(), rows, 'no entity row was written');
  });

  it('with a key configured, every entity route needs it', async () => {
    const keyed = await buildHttpApp(hub, { TASKHUB_KEY: 'entity-key' });
    try {
      assert.equal((await keyed.inject({ method: 'GET', url: `${BASE}/entities` })).statusCode, 401);
      assert.equal((await keyed.inject({ method: 'POST', url: `${BASE}/entities/Counter/k?op=add` })).statusCode, 401);
      assert.equal((await keyed.inject({ method: 'GET', url: `${BASE}/entities?code=entity-key` })).statusCode, 200);
    } finally {
      await keyed.close();
    }
  });
});

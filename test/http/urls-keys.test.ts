/**
 * URLs and keys: every URI is built on TASKHUB_PUBLIC_URL when it is set (a forged Host or
 * X-Forwarded-Host is ignored); X-Forwarded-* is believed only from a proxy TASKHUB_TRUST_PROXY
 * trusts; without either, the request's Host as before. The key never reaches a log line, whatever
 * the spelling of `code` or of the header. A restart is a start for TASKHUB_START_RATE_LIMIT and a
 * start answered with a 4xx costs nothing.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type App, buildApp } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';
import { BASE, body, buildHttpApp, instanceIn, uid } from './support.ts';

const URI_FIELDS = [
  'statusQueryGetUri',
  'sendEventPostUri',
  'terminatePostUri',
  'rewindPostUri',
  'purgeHistoryDeleteUri',
  'restartPostUri',
  'suspendPostUri',
  'resumePostUri',
] as const;

const FORGED = { host: 'evil.example:666', 'x-forwarded-host': 'evil-proxy.example', 'x-forwarded-proto': 'https' };

describe('URLs and keys', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub?.close();
  });

  /** Every URI a response carries: payload fields, Location, a conflict's statusQueryGetUri. */
  function urisOf(res: { headers: Record<string, unknown>; body: string }): string[] {
    const uris: string[] = [];
    if (typeof res.headers.location === 'string') uris.push(res.headers.location);
    try {
      const parsed = JSON.parse(res.body) as Record<string, unknown>;
      for (const field of URI_FIELDS) if (typeof parsed[field] === 'string') uris.push(parsed[field] as string);
    } catch {
      // an empty body
    }
    return uris;
  }

  /** Start (202), status while active (202 Location), singleton conflict (409), useExisting (200), restart (202). */
  async function everyUri(app: App, headers: Record<string, string>): Promise<string[]> {
    const uris: string[] = [];
    const started = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/Approval`, headers, payload: { timeoutSeconds: 3600 } });
    assert.equal(started.statusCode, 202, started.body);
    uris.push(...urisOf(started));
    const id = body(started).id as string;
    const status = await app.inject({ method: 'GET', url: `${BASE}/instances/${id}`, headers });
    assert.equal(status.statusCode, 202);
    uris.push(...urisOf(status));
    const conflict = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/Approval/${id}`, headers, payload: {} });
    assert.equal(conflict.statusCode, 409);
    uris.push(...urisOf(conflict));
    const single = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/QuickSingleton?onConflict=useExisting`, headers });
    uris.push(...urisOf(single));
    const restarted = await app.inject({ method: 'POST', url: `${BASE}/instances/${id}/restart`, headers });
    assert.equal(restarted.statusCode, 202, restarted.body);
    uris.push(...urisOf(restarted));
    for (const i of [id, body(restarted).id as string]) await hub.client.terminate(i, 'done');
    assert.ok(uris.length >= 27, `${uris.length} URIs`);
    return uris;
  }

  it('TASKHUB_PUBLIC_URL: every URI is built on it; Host and X-Forwarded-* are ignored (even with a trusted proxy)', async () => {
    for (const env of [{}, { TASKHUB_TRUST_PROXY: 'true' }] as Record<string, string>[]) {
      const app = await buildHttpApp(hub, { TASKHUB_PUBLIC_URL: 'https://hub.example.com/taskhub/', TASKHUB_KEY: 'k', ...env });
      try {
        for (const uri of await everyUri(app, { ...FORGED, 'x-functions-key': 'k' })) {
          assert.ok(uri.startsWith('https://hub.example.com/taskhub/runtime/webhooks/durabletask/'), uri);
          assert.doesNotMatch(uri, /evil/);
        }
      } finally {
        await app.close();
      }
    }
  });

  it('without a public URL or a trusted proxy: the Host header, and X-Forwarded-* is ignored (unchanged default)', async () => {
    const app = await buildHttpApp(hub);
    try {
      for (const uri of await everyUri(app, { ...FORGED, host: 'api.internal:7071' })) {
        assert.ok(uri.startsWith('http://api.internal:7071/runtime/webhooks/durabletask/'), uri);
      }
    } finally {
      await app.close();
    }
  });

  it('TASKHUB_TRUST_PROXY: X-Forwarded-Host/-Proto from a trusted peer only', async () => {
    const app = await buildHttpApp(hub, { TASKHUB_TRUST_PROXY: '127.0.0.1' });
    try {
      const proxied = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence`, headers: { host: 'internal:7071', 'x-forwarded-host': 'public.example', 'x-forwarded-proto': 'https' } });
      assert.ok(body(proxied).statusQueryGetUri.startsWith('https://public.example/runtime/'), body(proxied).statusQueryGetUri);
      const untrusted = await app.inject({
        method: 'POST',
        url: `${BASE}/orchestrators/HelloSequence`,
        remoteAddress: '10.9.8.7',
        headers: { host: 'internal:7071', 'x-forwarded-host': 'public.example', 'x-forwarded-proto': 'https' },
      });
      assert.ok(body(untrusted).statusQueryGetUri.startsWith('http://internal:7071/runtime/'), body(untrusted).statusQueryGetUri);
    } finally {
      await app.close();
    }
  });

  it('refuses a public URL or a proxy setting it cannot use, naming the variable', () => {
    for (const [name, value] of [
      ['TASKHUB_PUBLIC_URL', 'hub.example.com'],
      ['TASKHUB_PUBLIC_URL', 'ftp://hub.example.com'],
      ['TASKHUB_PUBLIC_URL', 'https://hub.example.com/?code=x'],
      ['TASKHUB_PUBLIC_URL', 'https://user:pw@hub.example.com'],
      ['TASKHUB_TRUST_PROXY', 'maybe'],
    ] as const) {
      assert.throws(() => loadConfig({ [name]: value }), (err: Error) => err instanceof ConfigError && err.message.startsWith(name), `${name}=${value}`);
    }
    assert.equal(loadConfig({ TASKHUB_PUBLIC_URL: 'https://Hub.Example.com:8443/' }).http.publicUrl, 'https://hub.example.com:8443');
    assert.equal(loadConfig({}).http.trustProxy, false);
    assert.equal(loadConfig({ TASKHUB_TRUST_PROXY: '2' }).http.trustProxy, 2);
  });

  describe('the key in logs', () => {
    const KEY = 'Sup3r-s3cret_key';
    const lines: string[] = [];
    let app: App;
    before(async () => {
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
          done();
        },
      });
      const config = loadConfig({ DATABASE_URL: hub.db.url, TASKHUB_KEY: KEY, LOG_LEVEL: 'info' });
      app = await buildApp({ config, client: hub.client, registry: hub.registry, health: { check: async () => [] }, log: createLogger('info', sink) });
    });
    after(async () => {
      await app?.close();
    });

    const everyEncoding = (text: string): string[] => [
      text,
      encodeURIComponent(text),
      [...Buffer.from(text)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
      [...Buffer.from(text)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
    ];

    it('redacts `code` whatever the spelling of its name or value, and it authenticates each time', async () => {
      const names = ['code', 'CODE', 'Code', '%63ode', 'c%6Fde', 'co%64e', 'cod%65', '%63%6F%64%65', '%43%4F%44%45', '%43ode'];
      const values = everyEncoding(KEY);
      for (const name of names) {
        for (const value of values) {
          for (const url of [`${BASE}/orchestrators?${name}=${value}`, `${BASE}/orchestrators?taskHub=TaskHub&${name}=${value}&x=1`]) {
            lines.length = 0;
            const res = await app.inject({ method: 'GET', url });
            assert.equal(res.statusCode, 200, `${url} should authenticate`);
            const logged = lines.join('\n');
            assert.ok(logged.includes('[redacted]'), `${url}: ${logged}`);
            for (const form of everyEncoding(KEY)) assert.ok(!logged.includes(form), `the key (${form}) is in the log for ${url}: ${logged}`);
          }
        }
      }
    });

    it('never logs the header, in any case of its name', async () => {
      for (const header of ['x-functions-key', 'X-Functions-Key', 'X-FUNCTIONS-KEY']) {
        lines.length = 0;
        const res = await app.inject({ method: 'GET', url: `${BASE}/orchestrators`, headers: { [header]: KEY } });
        assert.equal(res.statusCode, 200);
        assert.ok(lines.length > 0, 'requests are logged');
        for (const form of everyEncoding(KEY)) assert.ok(!lines.join('\n').includes(form), header);
      }
      // A line that carries the headers themselves (a route or plugin logging them) is redacted too.
      lines.length = 0;
      app.log.info({ req: { headers: { 'x-functions-key': KEY } }, headers: { 'x-functions-key': KEY } }, 'headers');
      assert.ok(!lines.join('\n').includes(KEY), lines.join('\n'));
    });
  });

  describe('TASKHUB_START_RATE_LIMIT', () => {
    let app: App;
    let t = 1_000_000;
    const tick = (): void => {
      t += 1000; // the next window
    };
    before(async () => {
      const config = loadConfig({ DATABASE_URL: hub.db.url, TASKHUB_START_RATE_LIMIT: '10', LOG_LEVEL: 'silent' });
      app = await buildApp({ config, client: hub.client, registry: hub.registry, health: { check: async () => [] }, clock: () => t });
    });
    after(async () => {
      await app?.close();
    });

    it('counts restarts: 40 concurrent restarts, 10 accepted, 30 answered 429', async () => {
      const done = await instanceIn(hub, 'completed');
      tick();
      const answers = await Promise.all(Array.from({ length: 40 }, () => app.inject({ method: 'POST', url: `${BASE}/instances/${done}/restart` })));
      const codes = answers.map((a) => a.statusCode);
      assert.equal(codes.filter((c) => c === 202).length, 10, codes.join(','));
      assert.equal(codes.filter((c) => c === 429).length, 30, codes.join(','));
      const fresh = await app.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence` });
      assert.equal(fresh.statusCode, 429, 'restarts and starts share one budget');
    });

    it('a start answered with a 4xx costs nothing', async () => {
      tick();
      // One after another: a start holds its place while it is in flight (so that concurrent ones
      // cannot all slip under the limit) and gives it back when answered with a 4xx.
      const rejected = [];
      for (let i = 0; i < 25; i++) {
        rejected.push(await app.inject({ method: 'POST', url: i % 2 ? `${BASE}/orchestrators/NoSuch` : `${BASE}/orchestrators/HelloSequence/@bad`, payload: {} }));
      }
      assert.deepEqual([...new Set(rejected.map((r) => r.statusCode))], [400]);
      const restartMissing = await app.inject({ method: 'POST', url: `${BASE}/instances/${uid('none')}/restart` });
      assert.equal(restartMissing.statusCode, 404);
      const good = await Promise.all(Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: `${BASE}/orchestrators/HelloSequence` })));
      const codes = good.map((a) => a.statusCode);
      assert.equal(codes.filter((c) => c === 202).length, 10, codes.join(','));
      assert.equal(codes.filter((c) => c === 429).length, 2, codes.join(','));
    });
  });
});

/**
 * What the logs say: createLogger() without a level, JSON with ISO times off a terminal and pretty
 * lines on one, errors with their type, message, stack and cause, one line per request, and a
 * "reconnected" line after the wake-up listener lost its connection.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

/** A logger into memory; lines() are what it wrote. */
function capture(format: 'json' | 'pretty', level = 'info'): { log: ReturnType<typeof createLogger>; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { log: createLogger(level, { format, destination: stream }), lines: () => text.split('\n').filter((l) => l !== '') };
}

describe('log lines', () => {
  it('createLogger() without a level works (LOG_LEVEL, else info)', () => {
    const log = createLogger();
    assert.equal(log.level, process.env.LOG_LEVEL ?? 'info');
    assert.equal(createLogger('nonsense', { format: 'json', destination: new PassThrough() }).level, 'info');
  });

  it('JSON: ISO times; an Error with its type, message, code, stack and cause; a description object as it is', () => {
    const { log, lines } = capture('json');
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    log.warn({ err: new Error('the database is unreachable', { cause }) }, 'pg-boss error');
    log.warn({ err: { message: 'terminating connection', code: '57P01', severity: 'FATAL' } }, 'listener lost');
    const [first, second] = lines().map((l) => JSON.parse(l) as Record<string, any>);
    assert.match(first?.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(first?.err.type, 'Error');
    assert.equal(first?.err.message, 'the database is unreachable');
    assert.match(first?.err.stack, /log-lines\.test\.ts/);
    assert.equal(first?.err.cause.code, 'ECONNREFUSED');
    assert.deepEqual(second?.err, { message: 'terminating connection', code: '57P01', severity: 'FATAL' });
  });

  it('pretty: a readable line (time, level, message, fields), not JSON', () => {
    const { log, lines } = capture('pretty');
    log.info({ port: 7071 }, 'pg-taskhub started');
    const [line] = lines();
    assert.ok(line !== undefined && !line.startsWith('{'), line);
    assert.match(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: pg-taskhub started \{"port":7071\}$/);
  });

  it('one line per request at info, with method, path, status and time; health probes at debug', async () => {
    const { log, lines } = capture('json', 'info');
    const config = loadConfig({ LOG_LEVEL: 'info' });
    const app = await buildApp({ config, client: undefined as never, registry: undefined as never, health: { check: async () => [] }, log });
    try {
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/nothing/here?code=secret' })).statusCode, 404);
      const logged = lines().map((l) => JSON.parse(l) as Record<string, any>);
      assert.equal(logged.length, 1, JSON.stringify(logged));
      assert.equal(logged[0]?.msg, 'GET /nothing/here?code=[redacted] 404');
      assert.equal(typeof logged[0]?.ms, 'number');
    } finally {
      await app.close();
    }
  });

  describe('the wake-up listener', () => {
    let hub: TestHub;
    const { log, lines } = capture('json', 'info');
    before(async () => {
      hub = await startTestHub({ log });
    });
    after(async () => hub?.close());

    it('logs "reconnected" after "lost its connection"', async () => {
      const admin = new pg.Client({ connectionString: hub.db.url });
      await admin.connect();
      try {
        const { rowCount } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg-taskhub-listen' AND datname = current_database()`);
        assert.equal(rowCount, 1);
      } finally {
        await admin.end();
      }
      const deadline = Date.now() + 30_000;
      while (!lines().some((l) => l.includes('wake-up listener reconnected')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const msgs = lines().map((l) => (JSON.parse(l) as { msg: string }).msg);
      const lost = msgs.findIndex((m) => m.startsWith('wake-up listener lost its connection'));
      const back = msgs.indexOf('wake-up listener reconnected');
      assert.ok(lost >= 0 && back > lost, msgs.join('\n'));
    });
  });
});

/**
 * The v3-style samples (examples/durable-functions/*.ts) run exactly as a ported Durable Functions
 * file runs: one import line (`import * as df from 'pg-taskhub/durable-functions'`), loaded by
 * `npm start -- --module <file>` in a real server process, driven over HTTP. A local HTTP server
 * stands in for the external services the activities call (lookup, provisioning, SMS, weather,
 * file store). Each test checks the output the README documents for its sample.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { killAll, ROOT, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const SAMPLES = [
  'hello-cities',
  'retry-lookup',
  'provision-tenants',
  'approval-deadline',
  'eternal-counter',
  'phone-verification',
  'weather-watch',
  'backup-folder',
  'export-report',
].map((name) => `./examples/durable-functions/${name}.ts`);

/** The external services, in memory: what each sample's activities call. */
class Services {
  readonly calls = new Map<string, number>();
  readonly sms: Array<{ to: string; body: string }> = [];
  readonly alerts: string[] = [];
  readonly backedUp: string[] = [];
  private server: http.Server | undefined;
  url = '';

  private count(key: string): number {
    const n = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, n);
    return n;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => this.answer(req, body, res));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    };
    switch (parts[0]) {
      case 'flaky': {
        const n = this.count(`flaky:${parts[1]}`);
        return n <= 2 ? json(503, { error: 'busy' }) : json(200, { key: parts[1], attempts: n });
      }
      case 'provision': {
        const n = this.count(`provision:${parts[1]}:${parts[2]}`);
        return n === 1 ? json(500, { error: 'disk full' }) : json(200, { database: `${parts[2]}-db` });
      }
      case 'sms':
        this.sms.push(JSON.parse(body) as { to: string; body: string });
        return json(202, {});
      case 'weather': {
        const n = this.count(`weather:${parts[1]}`);
        return json(200, { sky: n < 3 ? 'Rain' : 'Clear' });
      }
      case 'alerts':
        this.alerts.push((JSON.parse(body) as { city: string }).city);
        return json(202, {});
      case 'files':
        return json(200, ['a.txt', 'b.png', 'c.csv', 'd.log'].map((f) => `${url.searchParams.get('folder')}/${f}`));
      case 'reports': {
        // POST /reports/<month>/export → 202 + Location; its status answers 202 twice, then the file.
        const month = parts[1] as string;
        if (parts[2] === 'export' && req.method === 'POST') {
          this.count(`export:${month}`);
          res.writeHead(202, { location: `/reports/${month}/export/status`, 'retry-after': '1' }).end();
          return;
        }
        if (parts[2] === 'export' && parts[3] === 'status') {
          const n = this.count(`export-status:${month}`);
          if (n < 3) {
            res.writeHead(202, { location: `${this.url}/reports/${month}/export/status`, 'retry-after': '1' }).end();
            return;
          }
          return json(200, { file: `report-${month}.csv`, rows: 42 });
        }
        return json(404, { error: `no report for ${month}` });
      }
      case 'backup': {
        const { file } = JSON.parse(body) as { file: string };
        this.backedUp.push(file);
        return json(200, { bytes: file.length * 100 });
      }
      default:
        return json(404, {});
    }
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** npm itself, as `npm start` is typed (npm_execpath when the tests run under npm). */
function npmCli(): string {
  return process.env.npm_execpath ?? realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
}

describe('durable-functions v3 samples through pg-taskhub/durable-functions', () => {
  const services = new Services();
  let db: TestDatabase;
  let server: ServerProcess;
  let base: string;

  before(async () => {
    await services.start();
    db = await createTestDatabase('taskhub_dfsamples');
    const port = await freePort();
    const modules = SAMPLES.flatMap((file) => ['--module', file]);
    server = spawnNode(
      { DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'info', TASKHUB_EXAMPLES: 'false', TASKHUB_PG_POOL_MAX: '4', SAMPLE_SERVICES_URL: services.url },
      [npmCli(), 'start', '--', ...modules],
    );
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, server, 60_000);
    base = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
  });
  after(async () => {
    await killAll();
    await services.stop();
    await db?.drop().catch(() => undefined);
  });

  async function start(name: string, input?: unknown): Promise<string> {
    const res = await fetch(`${base}/orchestrators/${name}`, { method: 'POST', body: input === undefined ? '' : JSON.stringify(input) });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }

  async function status(id: string): Promise<{ runtimeStatus: string; output: unknown; customStatus: unknown }> {
    return (await (await fetch(`${base}/instances/${id}`)).json()) as { runtimeStatus: string; output: unknown; customStatus: unknown };
  }

  /** Waits for the instance to end; the wait is on the server (wait mode is not used: some samples need events first). */
  async function finished(id: string, timeoutMs = 30_000): Promise<{ runtimeStatus: string; output: unknown }> {
    return waitFor(`instance ${id} to end`, async () => {
      const s = await status(id);
      return ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus) ? s : undefined;
    }, timeoutMs, server);
  }

  async function raise(id: string, event: string, value: unknown): Promise<void> {
    const res = await fetch(`${base}/instances/${id}/raiseEvent/${event}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
    assert.equal(res.status, 202);
  }

  it('every sample has exactly one import line, and it is pg-taskhub/durable-functions', () => {
    for (const file of SAMPLES) {
      const imports = readFileSync(path.join(ROOT, file), 'utf8').split('\n').filter((line) => /^import\b/.test(line));
      assert.deepEqual(imports, ["import * as df from 'pg-taskhub/durable-functions';"], file);
    }
  });

  it('the server registered every sample and says it does not serve the HTTP starter', async () => {
    const names = ((await (await fetch(`${base}/orchestrators`)).json()) as Array<{ name: string }>).map((o) => o.name);
    assert.deepEqual(names, ['ApprovalDeadline', 'BackupFolder', 'EternalCounter', 'ExportReport', 'HelloCities', 'ProvisionTenant', 'ProvisionTenants', 'RetryLookup', 'VerifyPhone', 'WeatherWatch']);
    const warning = server.logs().find((l) => /df\.app\.client\.http\('HelloCitiesHttpStart'/.test(l.msg ?? ''));
    assert.ok(warning, 'a warning for the HTTP starter');
    assert.equal(warning.level, 40);
  });

  it('hello-cities: ["Hello, Lisbon!","Hello, Nairobi!","Hello, Osaka!"], and context.log reached the log', async () => {
    const id = await start('HelloCities');
    const done = await finished(id);
    assert.deepEqual(done, { ...done, runtimeStatus: 'Completed', output: ['Hello, Lisbon!', 'Hello, Nairobi!', 'Hello, Osaka!'] });
    const lines = server.logs().filter((l) => l.instanceId === id && /^Greeting /.test(l.msg ?? ''));
    assert.equal(lines.length, 3);
    assert.equal(lines[0]?.activity, 'GreetCity');
    assert.match(String(lines[0]?.invocationId), /^[0-9a-f-]{36}$/);
  });

  it('retry-lookup: {"key": <id>, "attempts": 3} after two 503s, each logged by context.error', async () => {
    const id = await start('RetryLookup');
    const done = await finished(id);
    assert.equal(done.runtimeStatus, 'Completed', JSON.stringify(done));
    assert.deepEqual(done.output, { key: id, attempts: 3 });
    const errors = server.logs().filter((l) => l.instanceId === id && l.level === 50 && /lookup of .* failed with 503/.test(l.msg ?? ''));
    assert.equal(errors.length, 2);
  });

  it('provision-tenants: each child fails once, is retried, and the parent gets both databases', async () => {
    const id = await start('ProvisionTenants', ['acme', 'globex']);
    const done = await finished(id);
    assert.equal(done.runtimeStatus, 'Completed', JSON.stringify(done));
    assert.deepEqual(done.output, [
      { tenant: 'acme', database: 'acme-db' },
      { tenant: 'globex', database: 'globex-db' },
    ]);
    assert.equal(services.calls.get(`provision:${id}:acme`), 2);
    assert.equal(services.calls.get(`provision:${id}:globex`), 2);
  });

  it('approval-deadline: "approved by ada" when the event comes first; "expired" when the timer does', async () => {
    const approved = await start('ApprovalDeadline', { deadlineSeconds: 3600 });
    await waitFor('waiting for approval', async () => ((await status(approved)).customStatus === 'waiting for approval' ? true : undefined), 20_000, server);
    await raise(approved, 'Approval', 'ada');
    assert.deepEqual((await finished(approved)).output, 'approved by ada');
    const expired = await start('ApprovalDeadline', { deadlineSeconds: 1 });
    assert.deepEqual((await finished(expired)).output, 'expired');
  });

  it('eternal-counter: continues as new until 5 → 5, with one execution\'s history at the end', async () => {
    const id = await start('EternalCounter', { count: 0, until: 5 });
    const done = await finished(id);
    assert.equal(done.output, 5);
    const history = (await (await fetch(`${base}/instances/${id}?showHistory=true`)).json()) as { historyEvents: Array<{ EventType: string }> };
    assert.deepEqual(history.historyEvents.map((e) => e.EventType), ['ExecutionStarted', 'ExecutionCompleted']);
    assert.deepEqual((history as unknown as { input: unknown }).input, { count: 5, until: 5 });
  });

  it('phone-verification: a wrong answer then the texted code → true; three wrong answers → false; no answer in time → false', async () => {
    const smsFor = async (phone: string): Promise<string> => {
      const sms = await waitFor(`an SMS to ${phone}`, () => services.sms.find((m) => m.to === phone), 20_000, server);
      return (sms.body.match(/(\d{4})$/) as RegExpMatchArray)[1] as string;
    };
    const ok = await start('VerifyPhone', { phone: '+15550001', expiresInSeconds: 3600 });
    const code = await smsFor('+15550001');
    await raise(ok, 'SmsChallengeResponse', code === '0000' ? '1111' : '0000');
    await raise(ok, 'SmsChallengeResponse', code);
    assert.equal((await finished(ok)).output, true);

    const wrong = await start('VerifyPhone', { phone: '+15550002', expiresInSeconds: 3600 });
    const real = await smsFor('+15550002');
    for (const guess of ['1', '2', '3']) await raise(wrong, 'SmsChallengeResponse', `${real}${guess}`);
    assert.equal((await finished(wrong)).output, false);

    const silent = await start('VerifyPhone', { phone: '+15550003', expiresInSeconds: 1 });
    assert.equal((await finished(silent)).output, false);
  });

  it('weather-watch: polls Rain, Rain, Clear one second apart, alerts once → "clear in Porto after 3 checks"', async () => {
    const id = await start('WeatherWatch', { city: 'Porto', pollSeconds: 1, expiresInSeconds: 60 });
    const done = await finished(id);
    assert.equal(done.output, 'clear in Porto after 3 checks');
    assert.deepEqual(services.alerts, ['Porto']);
    assert.deepEqual((await status(id)).customStatus, { checks: 3, sky: 'Clear' });
  });

  it('backup-folder: four files copied in parallel → {"folder":"photos","files":4,"bytes":…}', async () => {
    const id = await start('BackupFolder', 'photos');
    const done = await finished(id);
    assert.deepEqual(done.output, { folder: 'photos', files: 4, bytes: 4800 });
    assert.deepEqual([...services.backedUp].sort(), ['photos/a.txt', 'photos/b.png', 'photos/c.csv', 'photos/d.log']);
  });

  it('export-report: callHttp polls the export (202, 202, 200) behind durable timers → {"month":"2026-11","file":"report-2026-11.csv","rows":42,"previous":"none"}', async () => {
    const id = await start('ExportReport', { month: '2026-11', api: services.url });
    const done = await finished(id);
    assert.deepEqual(done.output, { month: '2026-11', file: 'report-2026-11.csv', rows: 42, previous: 'none' });
    assert.equal(services.calls.get('export:2026-11'), 1);
    assert.equal(services.calls.get('export-status:2026-11'), 3);
    const history = (await (await fetch(`${base}/instances/${id}?showHistory=true`)).json()) as { historyEvents: Array<{ EventType: string; FunctionName?: string }> };
    const requests = history.historyEvents.filter((e) => e.EventType === 'TaskCompleted').map((e) => e.FunctionName);
    assert.deepEqual(requests, Array(5).fill('BuiltIn::HttpActivity'), 'the POST, three polls and the listing');
    assert.equal(history.historyEvents.filter((e) => e.EventType === 'TimerCreated').length, 3);
  });
});

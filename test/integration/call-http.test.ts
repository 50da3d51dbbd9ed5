/**
 * callHttp against a real local HTTP server (node:http on port 0), through a real hub (PostgreSQL,
 * pg-boss, the built-in activity BuiltIn::HttpActivity on the worker): GET and POST with headers
 * and a body, a non-2xx answer as a result, a network failure the orchestration catches, the
 * response size limit, a redirect, the 202 + Location polling pattern with its durable timers, the
 * token-provider hook and the host allow-list (TASKHUB_HTTP_ALLOWED_HOSTS), redirects included.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpActivity } from '../../src/activities/http-activity.ts';
import type { ActivityContext } from '../../src/orchestrator/core/activity-context.ts';
import type { TaskFailedError } from '../../src/orchestrator/core/failures.ts';
import type { CallHttpOptions, DurableHttpResponse } from '../../src/orchestrator/core/http.ts';
import { HTTP_ACTIVITY } from '../../src/orchestrator/core/http.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { loadHistory } from '../../src/orchestrator/store/history.ts';
import { startAndWait, startTestHub, type TestHub } from '../helpers/hub.ts';

const LIMIT = 4096;

/** The stand-in server: echoes requests, answers 404, sends too much, redirects, and runs a 202 job. */
class TestServer {
  private server: http.Server | undefined;
  url = '';
  /** Requests seen, as "METHOD /path". */
  readonly seen: string[] = [];
  private polls = new Map<string, number>();

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => this.answer(req, body, res));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private answer(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', this.url).pathname;
    this.seen.push(`${req.method} ${path}`);
    const parts = path.split('/').filter(Boolean);
    switch (parts[0]) {
      case 'echo':
        res.writeHead(200, { 'content-type': 'application/json', 'x-answer': 'yes' });
        res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
        return;
      case 'missing':
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such thing');
        return;
      case 'big':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(LIMIT * 2));
        return;
      case 'redirect':
        res.writeHead(302, { location: parts[1] === 'away' ? this.url.replace('127.0.0.1', 'localhost') + '/echo' : '/echo' }).end();
        return;
      case 'jobs': {
        // POST /jobs/<id> → 202 Location /jobs/<id>/status; each GET of it → 202 twice, then 200.
        const id = parts[1] as string;
        if (req.method === 'POST') {
          res.writeHead(202, { location: `/jobs/${id}/status`, 'retry-after': '1' }).end();
          return;
        }
        const n = (this.polls.get(id) ?? 0) + 1;
        this.polls.set(id, n);
        if (n < 3) res.writeHead(202, { location: `${this.url}/jobs/${id}/status`, 'retry-after': '1' }).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, polls: n }));
        return;
      }
      default:
        res.writeHead(500).end();
    }
  }

  count(request: string): number {
    return this.seen.filter((s) => s === request).length;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function registry(): Registry {
  return new Registry()
    .orchestration('Http', function* (context) {
      const response = (yield context.df.callHttp(context.df.getInput<CallHttpOptions>())) as DurableHttpResponse;
      return { statusCode: response.statusCode, headers: response.headers, content: response.content };
    })
    .orchestration('HttpCatch', function* (context) {
      try {
        yield context.df.callHttp(context.df.getInput<CallHttpOptions>());
        return 'no error';
      } catch (err) {
        return { name: (err as Error).name, type: (err as TaskFailedError).failure.type, message: (err as Error).message };
      }
    })
    .httpTokenProvider(({ resource }) => `token-for-${resource}`);
}

describe('callHttp against a local HTTP server', () => {
  const server = new TestServer();
  let hub: TestHub;
  let down: number;

  before(async () => {
    await server.start();
    down = await closedPort();
    hub = await startTestHub({
      registry: registry(),
      listen: true,
      env: { TASKHUB_MAX_PAYLOAD_BYTES: String(LIMIT), TASKHUB_HTTP_ALLOWED_HOSTS: `127.0.0.1:${new URL(server.url).port}, 127.0.0.1:${down}` },
    });
  });
  after(async () => {
    await hub?.close();
    await server.stop();
  });

  async function run(name: 'Http' | 'HttpCatch', options: CallHttpOptions): Promise<{ status: string; output: any; instanceId: string }> {
    const row = await startAndWait(hub, name, options);
    return { status: row.runtimeStatus, output: row.output === null ? null : JSON.parse(row.output), instanceId: row.instanceId };
  }

  it('GET with headers: the response status, headers and content; history has TaskScheduled BuiltIn::HttpActivity', async () => {
    const done = await run('Http', { method: 'GET', url: `${server.url}/echo`, headers: { 'x-one': 'a', 'x-many': ['b', 'c'] } });
    assert.equal(done.status, 'Completed', JSON.stringify(done.output));
    assert.equal(done.output.statusCode, 200);
    assert.equal(done.output.headers['x-answer'], 'yes');
    const echoed = JSON.parse(done.output.content);
    assert.equal(echoed.method, 'GET');
    assert.equal(echoed.headers['x-one'], 'a');
    assert.equal(echoed.headers['x-many'], 'b, c');
    const row = await hub.client.get(done.instanceId);
    const history = await loadHistory(hub.pool, done.instanceId, row!.executionId);
    const scheduled = history.find((e) => e.type === 'TaskScheduled');
    assert.equal(scheduled?.type === 'TaskScheduled' && scheduled.name, HTTP_ACTIVITY);
    assert.deepEqual(JSON.parse(scheduled!.payload!), { method: 'GET', uri: `${server.url}/echo`, headers: { 'x-one': 'a', 'x-many': ['b', 'c'] }, asynchronousPatternEnabled: true });
    const completed = history.find((e) => e.type === 'TaskCompleted');
    assert.equal(JSON.parse(completed!.payload!).statusCode, 200);
  });

  it('POST with a string body (text/plain by default) and an object body (its JSON)', async () => {
    const text = await run('Http', { method: 'POST', url: `${server.url}/echo`, body: 'hello' });
    assert.deepEqual(JSON.parse(text.output.content).body, 'hello');
    assert.equal(JSON.parse(text.output.content).headers['content-type'], 'text/plain');
    const json = await run('Http', { method: 'POST', url: `${server.url}/echo`, body: { a: 1 }, headers: { 'Content-Type': 'application/json' } });
    const echoed = JSON.parse(json.output.content);
    assert.equal(echoed.body, '{"a":1}');
    assert.equal(echoed.headers['content-type'], 'application/json');
  });

  it('a 404 is a response, not an error', async () => {
    const done = await run('Http', { method: 'GET', url: `${server.url}/missing` });
    assert.equal(done.status, 'Completed');
    assert.equal(done.output.statusCode, 404);
    assert.equal(done.output.content, 'no such thing');
  });

  it('a redirect is followed (the allowed host)', async () => {
    const done = await run('Http', { method: 'GET', url: `${server.url}/redirect` });
    assert.equal(done.output.statusCode, 200);
    assert.equal(JSON.parse(done.output.content).method, 'GET');
  });

  it('a network failure fails the task: the orchestration catches HttpRequestError', async () => {
    const done = await run('HttpCatch', { method: 'GET', url: `http://127.0.0.1:${down}/` });
    assert.equal(done.status, 'Completed');
    assert.equal(done.output.name, 'TaskFailedError');
    assert.equal(done.output.type, 'HttpRequestError');
    assert.match(done.output.message, new RegExp(`Activity function 'BuiltIn::HttpActivity' failed: GET http://127.0.0.1:${down}/ failed: .*ECONNREFUSED`));
  });

  it('a response over TASKHUB_MAX_PAYLOAD_BYTES fails the task with PayloadLimitExceeded', async () => {
    const done = await run('HttpCatch', { method: 'GET', url: `${server.url}/big` });
    assert.equal(done.output.type, 'PayloadLimitExceeded');
    assert.match(done.output.message, new RegExp(`the response of GET ${server.url}/big is over ${LIMIT} bytes, the limit \\(TASKHUB_MAX_PAYLOAD_BYTES\\)`));
  });

  it('a request over TASKHUB_MAX_PAYLOAD_BYTES fails the instance, naming the limit', async () => {
    const done = await run('HttpCatch', { method: 'POST', url: `${server.url}/echo`, body: 'y'.repeat(LIMIT) });
    assert.equal(done.status, 'Failed');
    const row = await hub.client.get(done.instanceId);
    assert.equal(row?.failure?.type, 'PayloadLimitExceeded');
    assert.match(row?.failure?.message ?? '', /the callHttp request \(the input of BuiltIn::HttpActivity\) is \d+ bytes of JSON, over the limit of 4096/);
  });

  it('202 + Location: polled behind durable timers (Retry-After: 1) until the 200, every poll in history', async () => {
    const done = await run('Http', { method: 'POST', url: `${server.url}/jobs/j1`, body: '{}' });
    assert.equal(done.status, 'Completed', JSON.stringify(done.output));
    assert.deepEqual(JSON.parse(done.output.content), { id: 'j1', polls: 3 });
    assert.equal(server.count('POST /jobs/j1'), 1);
    assert.equal(server.count('GET /jobs/j1/status'), 3);
    const row = await hub.client.get(done.instanceId);
    const history = await loadHistory(hub.pool, done.instanceId, row!.executionId);
    const kinds = history.filter((e) => ['TaskScheduled', 'TimerCreated'].includes(e.type)).map((e) => e.type);
    assert.deepEqual(kinds, ['TaskScheduled', 'TimerCreated', 'TaskScheduled', 'TimerCreated', 'TaskScheduled', 'TimerCreated', 'TaskScheduled']);
  });

  it('enablePolling: false answers the 202 itself', async () => {
    const done = await run('Http', { method: 'POST', url: `${server.url}/jobs/j2`, enablePolling: false });
    assert.equal(done.output.statusCode, 202);
    assert.equal(done.output.headers.location, '/jobs/j2/status');
    assert.equal(server.count('GET /jobs/j2/status'), 0);
  });

  it('a tokenSource is answered by the registered provider as a bearer token (never recorded)', async () => {
    const done = await run('Http', { method: 'GET', url: `${server.url}/echo`, tokenSource: { resource: 'https://api.test' } });
    assert.equal(JSON.parse(done.output.content).headers.authorization, 'Bearer token-for-https://api.test');
    const row = await hub.client.get(done.instanceId);
    const history = await loadHistory(hub.pool, done.instanceId, row!.executionId);
    assert.ok(!JSON.stringify(history.find((e) => e.type === 'TaskScheduled')).includes('token-for'));
  });

  it('TASKHUB_HTTP_ALLOWED_HOSTS refuses other hosts, redirects to them included', async () => {
    const other = await run('HttpCatch', { method: 'GET', url: server.url.replace('127.0.0.1', 'localhost') + '/echo' });
    assert.equal(other.output.type, 'HttpHostNotAllowed');
    assert.match(other.output.message, /host 'localhost:\d+' is not in TASKHUB_HTTP_ALLOWED_HOSTS/);
    const before = server.count('GET /echo');
    const away = await run('HttpCatch', { method: 'GET', url: `${server.url}/redirect/away` });
    assert.equal(away.output.type, 'HttpHostNotAllowed');
    assert.match(away.output.message, /a redirect to http:\/\/localhost/);
    assert.equal(server.count('GET /echo'), before, 'the refused redirect was not followed');
  });
});

describe('the built-in HTTP activity on its own', () => {
  const server = new TestServer();
  before(() => server.start());
  after(() => server.stop());
  const context = { signal: new AbortController().signal } as ActivityContext;
  const activity = (overrides: Partial<Parameters<typeof httpActivity>[0]> = {}) =>
    httpActivity({ maxPayloadBytes: LIMIT, allowedHosts: undefined, defaultTimeoutMs: 5000, tokenProvider: () => undefined, ...overrides });

  it('a network failure is HttpRequestError naming the request and the cause', async () => {
    const port = await closedPort();
    await assert.rejects(activity()({ method: 'GET', uri: `http://127.0.0.1:${port}/x`, asynchronousPatternEnabled: true }, context), (err: Error) => {
      assert.equal(err.name, 'HttpRequestError');
      assert.match(err.message, new RegExp(`GET http://127.0.0.1:${port}/x failed: .*ECONNREFUSED`));
      return true;
    });
  });

  it('no answer within the timeout is a TimeoutError', async () => {
    const hang = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`;
    try {
      await assert.rejects(activity()({ method: 'GET', uri: url, asynchronousPatternEnabled: true, timeout: 300 }, context), (err: Error) => {
        assert.equal(err.name, 'TimeoutError');
        assert.equal(err.message, `GET ${url} did not answer within 300 ms`);
        return true;
      });
    } finally {
      hang.closeAllConnections();
      await new Promise((resolve) => hang.close(resolve));
    }
  });

  it('a tokenSource without a provider is NotSupportedError (non-retryable)', async () => {
    const request = { method: 'GET', uri: `${server.url}/echo`, asynchronousPatternEnabled: true, tokenSource: { kind: 'AzureManagedIdentity', resource: 'https://management.core.windows.net' } };
    await assert.rejects(activity()(request, context), (err: Error & { nonRetryable?: boolean }) => {
      assert.equal(err.name, 'NotSupportedError');
      assert.match(err.message, /has no meaning outside Azure: register a token provider/);
      assert.equal(err.nonRetryable, true);
      return true;
    });
  });

  it('the allow-list: host, host:port, *.domain and *', async () => {
    const { hostAllowed } = await import('../../src/activities/http-activity.ts');
    const url = (u: string) => new URL(u);
    assert.equal(hostAllowed(url('https://api.example.com/x'), ['api.example.com']), true);
    assert.equal(hostAllowed(url('https://evil.com/x'), ['api.example.com']), false);
    assert.equal(hostAllowed(url('https://a.b.example.com/'), ['*.example.com']), true);
    assert.equal(hostAllowed(url('https://example.com/'), ['*.example.com']), false);
    assert.equal(hostAllowed(url('http://h.test:8080/'), ['h.test:8080']), true);
    assert.equal(hostAllowed(url('http://h.test:8081/'), ['h.test:8080']), false);
    assert.equal(hostAllowed(url('https://h.test/'), ['h.test:443']), true);
    assert.equal(hostAllowed(url('http://[::1]:9/'), ['[::1]']), true);
    assert.equal(hostAllowed(url('http://169.254.169.254/'), ['*']), true);
  });
});

/**
 * callHttp's 202 polling pattern across a server restart: the real server process runs the
 * export-report sample (examples/durable-functions/export-report.ts, loaded with --module); the
 * stand-in report service answers the export's status URL 202 (Retry-After: 1) POLLS_BEFORE_DONE
 * times, then 200. The server is SIGKILLed mid-polling and started again on the same database;
 * the orchestration completes with the final response. No poll is lost: every poll in history
 * reached the service, and the service saw at most one request more than history holds (a
 * request in flight when the process died, sent again by the redelivered activity).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { killAll, NODE_FLAGS, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const POLLS_BEFORE_DONE = 6;
const MONTH = '2026-10';

/** The report service: POST starts the export (202 + Location), each GET of its status counts. */
class ReportService {
  private server: http.Server | undefined;
  url = '';
  posts = 0;
  statusGets = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const path = new URL(req.url ?? '/', 'http://x').pathname;
        if (req.method === 'POST' && path === `/reports/${MONTH}/export`) {
          this.posts++;
          res.writeHead(202, { location: `/reports/${MONTH}/export/status`, 'retry-after': '1' }).end();
        } else if (path === `/reports/${MONTH}/export/status`) {
          this.statusGets++;
          if (this.statusGets <= POLLS_BEFORE_DONE) res.writeHead(202, { location: `/reports/${MONTH}/export/status`, 'retry-after': '1' }).end();
          else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ file: `report-${MONTH}.csv`, rows: this.statusGets }));
        } else {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{}');
        }
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('callHttp polling across a server restart', () => {
  const service = new ReportService();
  let db: TestDatabase;
  let port: number;

  before(async () => {
    await service.start();
    db = await createTestDatabase('taskhub_callhttp_restart');
    port = await freePort();
  });
  after(async () => {
    await killAll();
    await service.stop();
    await db?.drop().catch(() => undefined);
  });

  function server(): ServerProcess {
    return spawnNode(
      { DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'info', TASKHUB_EXAMPLES: 'false', TASKHUB_PG_POOL_MAX: '4', TASKHUB_POLL_INTERVAL_MS: '200' },
      [...NODE_FLAGS, 'src/cli.ts', '--module', './examples/durable-functions/export-report.ts'],
    );
  }

  it('SIGKILL mid-polling, restart: completes with the final response; no poll lost, at most one duplicate', async (t) => {
    let proc = server();
    const base = `http://127.0.0.1:${port}/runtime/webhooks/durabletask`;
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, proc, 60_000);
    const started = await fetch(`${base}/orchestrators/ExportReport`, { method: 'POST', body: JSON.stringify({ month: MONTH, api: service.url }) });
    assert.equal(started.status, 202);
    const { id } = (await started.json()) as { id: string };

    // Mid-polling: the export is started and polled twice; then, while the durable timer before the
    // third poll runs (Retry-After: 1), the process dies without a word.
    await waitFor('two polls of the export status', () => (service.statusGets >= 2 ? true : undefined), 30_000, proc);
    await new Promise((resolve) => setTimeout(resolve, 400));
    proc.signalGroup('SIGKILL');
    await proc.exited;
    const seenAtKill = service.statusGets;
    assert.ok(seenAtKill < POLLS_BEFORE_DONE, 'killed before the export was done');

    const restartedAt = Date.now();
    proc = server();
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, proc, 60_000);
    const readyAfter = Date.now() - restartedAt;
    const done = await waitFor(
      'the instance to end',
      async () => {
        const s = (await (await fetch(`${base}/instances/${id}?showHistory=true`)).json()) as {
          runtimeStatus: string;
          output: unknown;
          historyEvents: Array<{ EventType: string; FunctionName?: string }>;
        };
        return ['Completed', 'Failed', 'Terminated'].includes(s.runtimeStatus) ? s : undefined;
      },
      60_000,
      proc,
    );
    assert.equal(done.runtimeStatus, 'Completed', JSON.stringify(done.output));

    // History: the POST, each status poll, and the listing, all answered by BuiltIn::HttpActivity.
    const requests = done.historyEvents.filter((e) => e.EventType === 'TaskCompleted' && e.FunctionName === 'BuiltIn::HttpActivity');
    const pollsInHistory = requests.length - 2;
    const duplicates = service.statusGets - pollsInHistory;
    t.diagnostic(`killed after ${seenAtKill} polls; service saw ${service.statusGets}, history holds ${pollsInHistory}; ready again after ${readyAfter} ms, done ${Date.now() - restartedAt} ms after the restart`);
    assert.ok(duplicates === 0 || duplicates === 1, `the service saw ${service.statusGets} polls, history holds ${pollsInHistory}: at most one duplicate`);
    // The 200 came on the service's (POLLS_BEFORE_DONE + 1)-th poll: it is the final response.
    assert.deepEqual(done.output, { month: MONTH, file: `report-${MONTH}.csv`, rows: POLLS_BEFORE_DONE + 1, previous: 'none' });
    assert.equal(service.statusGets, POLLS_BEFORE_DONE + 1);
    assert.equal(pollsInHistory, POLLS_BEFORE_DONE + 1 - duplicates);
    assert.equal(service.posts, 1, 'the export was started once');
    // One durable timer before every poll, each in history.
    assert.equal(done.historyEvents.filter((e) => e.EventType === 'TimerFired').length, pollsInHistory);
  });
});

/**
 * GET /metrics scraped from a live server process (`node src/cli.ts` with the every-second schedule
 * of a single-instance orchestration): the counters move after a start, the activities it runs, a
 * conflict and a skipped schedule tick; the gauges of database state and of the process are there;
 * the key is needed unless TASKHUB_METRICS_PUBLIC=true.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { sample } from '../helpers/prometheus.ts';
import { killAll, type LogLine, type ServerProcess, spawnNode, waitFor, waitForHttp } from './helpers/server.ts';

const API = '/runtime/webhooks/durabletask';
const KEY = 'metrics-key';
let firstServerLogs: LogLine[] = [];
const logsOfFirstServer = (): LogLine[] => firstServerLogs;

describe('/metrics on a live server', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let url: string;

  before(async () => {
    db = await createTestDatabase();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawnNode({
      DATABASE_URL: db.url,
      PORT: String(port),
      LOG_LEVEL: 'info',
      TASKHUB_KEY: KEY,
      TASKHUB_PG_POOL_MAX: '4',
      TASKHUB_MODULES: './test/fixtures/scheduled-module.ts',
    });
    await waitForHttp(`${url}/healthz`, server, 60_000);
  });
  after(async () => {
    firstServerLogs = server.logs();
    await killAll();
    await db?.drop().catch(() => undefined);
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(`${url}/metrics`, { headers: { 'x-functions-key': KEY } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0.0.4/);
    return res.text();
  };
  const call = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${url}${API}${path}`, { method, headers: { 'x-functions-key': KEY, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  it('needs the key', async () => {
    assert.equal((await fetch(`${url}/metrics`)).status, 401);
    assert.equal((await fetch(`${url}/metrics?code=wrong`)).status, 401);
    assert.equal((await fetch(`${url}/metrics?code=${KEY}`)).status, 200);
  });

  it('the counters move after a start, its activities, a conflict and a skipped tick', async () => {
    const before = await scrape();
    const n = (text: string, name: string, labels: Record<string, string> = {}): number => sample(text, name, labels) ?? 0;

    const started = await call('POST', '/orchestrators/HelloSequence');
    assert.equal(started.status, 202);
    const { id } = (await started.json()) as { id: string };
    await waitFor('HelloSequence to complete', async () => ((await (await call('GET', `/instances/${id}`)).json()) as { runtimeStatus: string }).runtimeStatus === 'Completed' || undefined, 30_000, server);
    assert.equal((await call('POST', '/orchestrators/PerTenant', { tenant: 'm' })).status, 202);
    assert.equal((await call('POST', '/orchestrators/PerTenant', { tenant: 'm' })).status, 409);

    // The schedule fires every second and each run lasts 2.5 s, so ticks are skipped; the schedule
    // gauges are read from the database at most every 5 s.
    const after = await waitFor(
      'a skipped tick in /metrics',
      async () => {
        const text = await scrape();
        return n(text, 'taskhub_schedule_ticks_total', { orchestration: 'EverySecond', outcome: 'skipped' }) >
          n(before, 'taskhub_schedule_ticks_total', { orchestration: 'EverySecond', outcome: 'skipped' })
          ? text
          : undefined;
      },
      30_000,
      server,
    );
    const moved = (name: string, labels: Record<string, string>): number => n(after, name, labels) - n(before, name, labels);
    assert.equal(moved('taskhub_starts_total', { orchestration: 'HelloSequence', outcome: 'accepted' }), 1);
    assert.equal(moved('taskhub_starts_total', { orchestration: 'PerTenant', outcome: 'accepted' }), 1);
    assert.equal(moved('taskhub_starts_total', { orchestration: 'PerTenant', outcome: 'conflict' }), 1);
    assert.equal(moved('taskhub_activities_total', { activity: 'SayHello', outcome: 'completed' }), 3);
    assert.equal(moved('taskhub_activity_duration_seconds_count', { activity: 'SayHello' }), 3);
    assert.equal(moved('taskhub_turns_total', { orchestration: 'HelloSequence', outcome: 'committed' }), 4);
    assert.equal(moved('taskhub_turn_duration_seconds_count', { orchestration: 'HelloSequence' }), 4);
    assert.equal(moved('taskhub_turn_replayed_events_count', { orchestration: 'HelloSequence' }), 4);
    assert.ok(moved('taskhub_schedule_ticks_total', { orchestration: 'EverySecond', outcome: 'started' }) >= 0);
    assert.ok(n(after, 'taskhub_schedule_ticks_total', { orchestration: 'EverySecond', outcome: 'started' }) >= 1);

    // Gauges of the database's state and of the process.
    assert.equal(n(after, 'taskhub_instances', { orchestration: 'HelloSequence', status: 'Completed' }), 1);
    assert.equal(n(after, 'taskhub_instances', { orchestration: 'PerTenant', status: 'Running' }), 1);
    assert.ok(n(after, 'taskhub_timers_pending') >= 1, 'PerTenant waits on a 60 s timer');
    assert.notEqual(sample(after, 'taskhub_activity_queue_jobs', { state: 'ready' }), undefined);
    assert.ok(n(after, 'taskhub_pg_pool_connections', { pool: 'engine', state: 'total' }) >= 1);
    assert.equal(n(after, 'taskhub_pg_pool_connections', { pool: 'engine', state: 'max' }), 4, 'TASKHUB_PG_POOL_MAX');
    assert.ok(n(after, 'taskhub_pg_pool_connections', { pool: 'boss', state: 'max' }) >= 4, "pg-boss's pool too");
    assert.notEqual(sample(after, 'nodejs_eventloop_lag_seconds'), undefined);
    assert.match(after, /# TYPE taskhub_turn_duration_seconds histogram/);
  });

  it('a refused start and a refused read add nothing to the start counters', async () => {
    const before = await scrape();
    assert.equal((await call('POST', '/orchestrators/NoSuchThing')).status, 400);
    assert.equal((await fetch(`${url}${API}/orchestrators/HelloSequence`, { method: 'POST' })).status, 401);
    const text = await scrape();
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'NoSuchThing' }), undefined, 'no label from raw input');
    assert.equal(sample(text, 'taskhub_starts_total', { orchestration: 'HelloSequence' }), sample(before, 'taskhub_starts_total', { orchestration: 'HelloSequence' }));
  });
});

describe('engine log lines', () => {
  it('name the instance and its execution (and the task, for an activity)', async () => {
    // The schedule server above logged its ticks (started and skipped) at info and warn.
    const lines = logsOfFirstServer();
    const ticks = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('schedule') && l.instanceId);
    assert.ok(ticks.some((l) => l.msg === 'schedule started a run'), 'a started tick was logged');
    assert.ok(ticks.some((l) => String(l.msg).startsWith('schedule tick skipped')), 'a skipped tick was logged');
    for (const line of lines.filter((l) => l.instanceId !== undefined && l.instanceId !== null)) {
      assert.equal(typeof line.executionId, 'string', `a line naming an instance names its execution: ${JSON.stringify(line)}`);
      if (line.activity !== undefined) assert.equal(typeof line.taskId, 'number', `an activity line names its task: ${JSON.stringify(line)}`);
    }
  });
});

describe('/metrics with TASKHUB_METRICS_PUBLIC=true, and with TASKHUB_METRICS=false', () => {
  let db: TestDatabase;
  after(async () => {
    await killAll();
    await db?.drop().catch(() => undefined);
  });

  it('public: no key needed for /metrics (the control plane still needs it); off: no /metrics', async () => {
    db = await createTestDatabase();
    const port = await freePort();
    const server = spawnNode({ DATABASE_URL: db.url, PORT: String(port), LOG_LEVEL: 'warn', TASKHUB_KEY: KEY, TASKHUB_METRICS_PUBLIC: 'true', TASKHUB_PG_POOL_MAX: '4' });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server, 60_000);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}${API}/instances`)).status, 401);
    server.signal('SIGTERM');
    await server.exited;

    const off = await freePort();
    const quiet = spawnNode({ DATABASE_URL: db.url, PORT: String(off), LOG_LEVEL: 'warn', TASKHUB_METRICS: 'false', TASKHUB_PG_POOL_MAX: '4' });
    await waitForHttp(`http://127.0.0.1:${off}/healthz`, quiet, 60_000);
    assert.equal((await fetch(`http://127.0.0.1:${off}/metrics`)).status, 404);
  });
});

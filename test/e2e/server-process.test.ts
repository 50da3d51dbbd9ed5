/**
 * The real server process (`node src/cli.ts`, what `npm start` runs), end to end: the embedded
 * PostgreSQL by default (data kept and reused, nothing left running after Ctrl-C), DATABASE_URL
 * instead, bad configuration (one line naming the variable, non-zero exit, nothing started),
 * /readyz, and the api and worker roles as two processes on one database.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import {
  alive,
  exitWithin,
  isListening,
  killAll,
  killPostgres,
  postgresProcesses,
  postmaster,
  processGroup,
  removeTempDirs,
  ROOT,
  type ServerProcess,
  spawnNode,
  tempDir,
  waitFor,
  waitForHttp,
  waitForLog,
} from './helpers/server.ts';

const MIGRATIONS = readdirSync(path.join(ROOT, 'migrations')).filter((f) => /^\d{4}_.*\.sql$/.test(f)).length;
const databases: TestDatabase[] = [];
/** Servers on the shared test PostgreSQL keep few connections: other test files run alongside. */
const SMALL_POOL = { TASKHUB_PG_POOL_MAX: '4' };
const dirs: string[] = [];

function scratch(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

after(async () => {
  await killAll();
  for (const dir of dirs) killPostgres(dir);
  removeTempDirs();
  for (const db of databases) await db.drop().catch(() => undefined);
});

async function query<T extends pg.QueryResultRow>(connectionString: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** The server, on the embedded database: no DATABASE_URL in its environment at all. */
function embeddedServer(dataDir: string, port: number, env: Record<string, string> = {}): ServerProcess {
  return spawnNode({ TASKHUB_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', ...env });
}

function embeddedPort(proc: ServerProcess): number {
  const line = proc.logs().find((l) => typeof l.port === 'number' && /^embedded PostgreSQL (created and )?started/.test(l.msg ?? ''));
  assert.ok(line, `no embedded PostgreSQL start in the log:\n${proc.stdout()}`);
  return line.port as number;
}

const embeddedUrl = (port: number): string => `postgres://postgres:taskhub@127.0.0.1:${port}/postgres`;

describe('the embedded PostgreSQL (no DATABASE_URL)', () => {
  const dir = scratch();
  const dataDir = path.join(dir, 'data');
  const marker = `run-1-${randomBytes(4).toString('hex')}`;
  let run1Pids: number[] = [];

  it('run 1 creates the database, serves /healthz and /readyz, and a Ctrl-C stops everything', async () => {
    const port = await freePort();
    const server = embeddedServer(dataDir, port);
    const health = await waitForHttp(`http://127.0.0.1:${port}/healthz`, server);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', hubs: [{ name: 'TaskHub', connection: 'Storage', status: 'ready', failing: [] }] });

    const created = server.logs().find((l) => l.msg === 'embedded PostgreSQL created and started');
    assert.ok(created, 'the log says a new embedded PostgreSQL was created');
    assert.equal(created.fresh, true);
    assert.equal(created.dataDir, path.join(dataDir, 'pg'));
    const pgPort = embeddedPort(server);
    const using = server.logs().find((l) => l.msg === 'using the embedded PostgreSQL');
    assert.equal(using?.database, `127.0.0.1:${pgPort}/postgres`, 'the log says which database is used');
    assert.equal(server.logs().filter((l) => l.msg === 'migration applied').length, MIGRATIONS);
    assert.ok(existsSync(path.join(dataDir, 'pg', 'PG_VERSION')), 'the cluster lives under TASKHUB_DATA_DIR');

    // Something to find again in run 2.
    await query(embeddedUrl(pgPort), 'CREATE TABLE public.e2e_marker (note text)');
    await query(embeddedUrl(pgPort), 'INSERT INTO public.e2e_marker VALUES ($1)', [marker]);
    const [{ n }] = (await query<{ n: number }>(embeddedUrl(pgPort), 'SELECT count(*)::int AS n FROM taskhub.schema_migrations')) as [{ n: number }];
    assert.equal(n, MIGRATIONS);

    run1Pids = postgresProcesses(dataDir);
    assert.ok(run1Pids.length >= 2, `a postmaster and its processes are found while running (${run1Pids})`);
    // Out of reach of the terminal's Ctrl-C, so that the server drains first and stops it last.
    assert.notEqual(processGroup(postmaster(dataDir) as number), processGroup(server.pid), 'postgres runs in a process group of its own');

    // A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    server.signalGroup('SIGINT');
    assert.equal(await exitWithin(server, 20_000), 0, server.stderr());
    assert.equal(server.stderr(), '', 'nothing on stderr');
    assert.ok(server.logs().some((l) => l.msg === 'embedded PostgreSQL stopped'));
    assert.deepEqual(alive(run1Pids), [], 'no postgres process of run 1 is left');
    assert.deepEqual(postgresProcesses(dataDir), []);
    assert.equal(await isListening(port), false, 'the HTTP port is closed');
    assert.equal(await isListening(pgPort), false, 'the database port is closed');
  });

  it('run 2 reuses the data (no migration re-applied, the marker row is there); kill -INT stops it', async () => {
    const port = await freePort();
    const server = embeddedServer(dataDir, port);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`, server);
    assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
    const started = server.logs().find((l) => l.msg === 'embedded PostgreSQL started (existing data)');
    assert.ok(started, `the log says the existing data is used:\n${server.stdout()}`);
    assert.equal(started.fresh, false);
    assert.equal(server.logs().filter((l) => l.msg === 'migration applied').length, 0, 'no migration re-applied');
    const pgPort = embeddedPort(server);
    assert.deepEqual(await query(embeddedUrl(pgPort), 'SELECT note FROM public.e2e_marker'), [{ note: marker }]);
    const [{ n }] = (await query<{ n: number }>(embeddedUrl(pgPort), 'SELECT count(*)::int AS n FROM taskhub.schema_migrations')) as [{ n: number }];
    assert.equal(n, MIGRATIONS);

    const pids = postgresProcesses(dataDir);
    assert.ok(pids.length >= 2);
    server.signal('SIGINT'); // the server process only, not its group
    assert.equal(await exitWithin(server, 20_000), 0, server.stderr());
    assert.equal(server.stderr(), '');
    assert.deepEqual(alive(pids), [], 'no postgres process of run 2 is left');
    assert.deepEqual(postgresProcesses(dataDir), []);
    assert.equal(await isListening(port), false);
  });

  it('/readyz turns 503 when the embedded PostgreSQL is killed; SIGTERM still exits cleanly', async () => {
    const port = await freePort();
    const server = embeddedServer(dataDir, port);
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, server);
    const pids = postgresProcesses(dataDir);
    assert.ok(pids.length >= 2, `postgres is running (${pids})`);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitFor('the postgres processes to die', () => (alive(pids).length === 0 ? true : undefined), 10_000);

    const notReady = await waitFor(
      '/readyz to answer 503',
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(15_000) });
        return res.status === 503 ? res : undefined;
      },
      20_000,
      server,
    );
    const body = (await notReady.json()) as { status: string; failing: string[] };
    assert.equal(body.status, 'unavailable');
    assert.ok(body.failing.includes('database'), JSON.stringify(body));
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the process itself is alive');

    server.signal('SIGTERM');
    assert.equal(await exitWithin(server, 30_000), 0, server.stderr());
    assert.ok(server.logs().some((l) => l.msg === 'embedded PostgreSQL stopped'), 'the shutdown ran to its end');
    assert.equal(await isListening(port), false);
    assert.deepEqual(postgresProcesses(dataDir), []);
  });
});

describe('stopping at the wrong moment leaves nothing behind', () => {
  it('SIGTERM while the embedded PostgreSQL is starting: it is stopped too', async () => {
    const dataDir = path.join(scratch(), 'data');
    const port = await freePort();
    const server = embeddedServer(dataDir, port);
    await waitForLog(server, 'using the embedded PostgreSQL');
    const pids = postgresProcesses(dataDir);
    assert.ok(pids.length >= 1, 'postgres is running');
    server.signal('SIGTERM');
    assert.equal(await exitWithin(server, 20_000), 0, `${server.stdout()}\n${server.stderr()}`);
    assert.equal(server.stderr(), '');
    assert.ok(server.logs().some((l) => l.msg === 'embedded PostgreSQL stopped'));
    assert.deepEqual(alive(pids), []);
    assert.deepEqual(postgresProcesses(dataDir), []);
    assert.equal(await isListening(port), false);
  });

  it('PORT already in use: one line naming PORT, exit 1, the embedded PostgreSQL stopped again', async () => {
    const dataDir = path.join(scratch(), 'data');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const server = embeddedServer(dataDir, port);
      const code = await exitWithin(server, 30_000);
      assert.equal(code, 1, server.stderr());
      assert.ok(server.logs().some((l) => l.msg === 'embedded PostgreSQL created and started'), 'it had got as far as starting the database');
      const lines = server.stderr().trim().split('\n');
      assert.equal(lines.length, 1, server.stderr());
      assert.match(lines[0] as string, new RegExp(`PORT ${port} is already in use`));
      assert.deepEqual(postgresProcesses(dataDir), [], 'no postgres left behind');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('bad configuration: one line naming the variable on stderr, non-zero exit, nothing started', () => {
  const cases: Array<{ name: string; env: Record<string, string>; variable: RegExp }> = [
    { name: 'PORT=abc', env: { PORT: 'abc' }, variable: /^pg-taskhub: configuration error: PORT .*"abc"/ },
    { name: 'HOST=0.0.0.0 without TASKHUB_KEY', env: { HOST: '0.0.0.0' }, variable: /^pg-taskhub: configuration error: HOST .*TASKHUB_KEY/ },
    {
      name: 'an unreachable DATABASE_URL',
      env: { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/x' },
      variable: /^pg-taskhub: configuration error: DATABASE_URL cannot be reached/,
    },
    { name: 'DATABASE_URL that is not a postgres URL', env: { DATABASE_URL: 'mysql://x' }, variable: /^pg-taskhub: configuration error: DATABASE_URL / },
    { name: 'TASKHUB_ROLE=manager', env: { TASKHUB_ROLE: 'manager' }, variable: /^pg-taskhub: configuration error: TASKHUB_ROLE / },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const dataDir = path.join(scratch(), 'data');
      const port = await freePort();
      const server = spawnNode({ TASKHUB_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', ...c.env });
      const code = await exitWithin(server, 20_000);
      assert.equal(typeof code, 'number');
      assert.notEqual(code, 0);
      const lines = server.stderr().split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `exactly one line on stderr:\n${server.stderr()}`);
      assert.match(lines[0] as string, c.variable);
      assert.equal(existsSync(dataDir), false, 'no embedded database was created');
      assert.equal(server.logs().some((l) => l.msg === 'pg-taskhub started'), false);
      assert.equal(await isListening(port), false);
      assert.deepEqual(postgresProcesses(dataDir), []);
    });
  }
});

describe('DATABASE_URL', () => {
  it('uses that database (and says so), not the embedded one; /readyz is 503 once it is gone', async () => {
    const db = await createTestDatabase('taskhub_e2e');
    databases.push(db);
    const dataDir = path.join(scratch(), 'data');
    const port = await freePort();
    const server = spawnNode({ DATABASE_URL: db.url, TASKHUB_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info', ...SMALL_POOL });
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, server);
    const using = server.logs().find((l) => l.msg === 'using the database from DATABASE_URL');
    const url = new URL(db.url);
    assert.equal(using?.database, `${url.hostname}:${url.port || 5432}/${db.name}`);
    assert.equal(server.logs().some((l) => /embedded/i.test(l.msg ?? '')), false, 'no embedded PostgreSQL');
    assert.equal(existsSync(dataDir), false, 'TASKHUB_DATA_DIR untouched');
    const [{ n }] = (await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM taskhub.schema_migrations')) as [{ n: number }];
    assert.equal(n, MIGRATIONS, 'the migrations went into that database');

    // The database disappears under the running server.
    await db.drop();
    const res = await waitFor(
      '/readyz to answer 503',
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(15_000) });
        return r.status === 503 ? r : undefined;
      },
      20_000,
      server,
    );
    assert.deepEqual(((await res.json()) as { failing: string[] }).failing.sort(), ['database', 'pg-boss']);
    server.signal('SIGTERM');
    assert.equal(await exitWithin(server, 30_000), 0, server.stderr());
    assert.equal(await isListening(port), false);
  });
});

describe('roles: an api process and a worker process on one database', () => {
  it('the api serves HTTP and runs no turns; the worker has no listener and completes HelloSequence', async () => {
    const db = await createTestDatabase('taskhub_e2e');
    databases.push(db);
    const apiPort = await freePort();
    const workerPort = await freePort();
    const common = { DATABASE_URL: db.url, LOG_LEVEL: 'info', TASKHUB_SCHEDULES: 'false', TASKHUB_POLL_INTERVAL_MS: '200', ...SMALL_POOL };
    const api = spawnNode({ ...common, TASKHUB_ROLE: 'api', PORT: String(apiPort) });
    await waitForHttp(`http://127.0.0.1:${apiPort}/healthz`, api);
    assert.equal((await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status, 200);

    // Started through the api process's control plane.
    const res = await fetch(`http://127.0.0.1:${apiPort}/runtime/webhooks/durabletask/orchestrators/HelloSequence`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    const { id: instanceId, statusQueryGetUri } = (await res.json()) as { id: string; statusQueryGetUri: string };
    const status = async (): Promise<{ runtime_status: string; output: string | null } | undefined> =>
      (await query<{ runtime_status: string; output: string | null }>(db.url, 'SELECT runtime_status, output FROM taskhub.instances WHERE instance_id = $1', [instanceId]))[0];

    // Only the api is running: nobody runs the instance's turns. A process that runs turns holds a
    // LISTEN connection (application_name pg-taskhub-listen) from before it logs "started"; the api
    // process has none (checked again below, where the worker's one is seen).
    const listeners = async (): Promise<number> =>
      (await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg-taskhub-listen'`))[0]?.n ?? -1;
    assert.equal(await listeners(), 0, 'the api process runs no turn dispatcher');
    assert.equal((await status())?.runtime_status, 'Pending', 'the api process runs no turns');

    const worker = spawnNode({ ...common, TASKHUB_ROLE: 'worker', PORT: String(workerPort) });
    const started = await waitForLog(worker, 'pg-taskhub started');
    assert.equal(started.role, 'worker');
    assert.equal(started.url, undefined);
    assert.equal(await isListening(workerPort), false, 'the worker has no HTTP listener');
    assert.equal(worker.logs().some((l) => /listening/i.test(l.msg ?? '')), false);
    assert.equal(await listeners(), 1, 'the worker runs the turn dispatcher (and the probe above can see one)');

    const done = await waitFor('HelloSequence to complete', async () => {
      const row = await status();
      return row && ['Completed', 'Failed', 'Terminated'].includes(row.runtime_status) ? row : undefined;
    }, 30_000, worker);
    assert.equal(done.runtime_status, 'Completed', done.output ?? '');
    assert.deepEqual(JSON.parse(done.output as string), ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);
    const viaApi = (await (await fetch(statusQueryGetUri)).json()) as { runtimeStatus: string; output: unknown };
    assert.equal(viaApi.runtimeStatus, 'Completed', 'the api process reports what the worker did');
    assert.deepEqual(viaApi.output, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']);

    worker.signal('SIGTERM');
    api.signal('SIGTERM');
    assert.equal(await exitWithin(worker, 30_000), 0, worker.stderr());
    assert.equal(await exitWithin(api, 30_000), 0, api.stderr());
  });
});

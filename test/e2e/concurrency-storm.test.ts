/**
 * Concurrency control over two real server processes on one database (issue 14): a storm of 200
 * concurrent starts against `limit: 3` (exactly 3 accepted, never 4 active, sampled throughout), a
 * per-key limit with two keys, the queue with 20 starts and a SIGKILL of one process mid-queue (all
 * 20 run, one at a time, in arrival order, each once), replaceQueued under 100 concurrent starts
 * (one runs, at most one waits, the last start wins), and a debounce burst (one instance, the last
 * input). Both processes serve and work; every decision is PostgreSQL's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type JsonAnswer, postJson, type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';

const BASE = '/runtime/webhooks/durabletask';
const ACTIVE = `runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`;

let db: TestDatabase;
let sql: pg.Pool;
const servers: ServerProcess[] = [];
const urls: string[] = [];

async function spawn(): Promise<void> {
  const port = await freePort();
  const proc = spawnServer(
    {
      DATABASE_URL: db.url,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      TASKHUB_SCHEDULES: 'false',
      TASKHUB_EXAMPLES: 'false',
      TASKHUB_PG_POOL_MAX: '20',
      TASKHUB_POLL_INTERVAL_MS: '200',
      // A SIGKILLed process's turn lease expires this soon; the survivor takes the turn over.
      TASKHUB_TURN_LEASE_SECONDS: '3',
    },
    ['--module', './test/fixtures/concurrency-orchestrations.ts'],
  );
  servers.push(proc);
  const url = `http://127.0.0.1:${port}`;
  urls.push(url);
  for (let n = 0; n < 600; n++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) return;
    if (proc.child.exitCode !== null) await waitForOutput(proc, /never/, 1);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not come up:\n${proc.output().slice(-2000)}`);
}

before(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
  sql.on('error', () => undefined); // the database is dropped with FORCE at the end
  await spawn();
  await spawn();
});

after(async () => {
  await Promise.all(servers.map((s) => s.kill('SIGTERM')));
  await sql?.end();
  await db?.drop();
});

type Answer = JsonAnswer;
const post = postJson;

/** Fails on any 5xx, with the servers' last error lines. */
function noServerErrors(answers: Answer[]): void {
  const failures = answers.filter((a) => a.status >= 500);
  if (failures.length === 0) return;
  const logs = servers.map((s) => s.output().split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(-3).join('\n'));
  assert.fail(`${failures.length} 5xx, e.g. ${failures[0]?.status} ${JSON.stringify(failures[0]?.body)}\n${logs.join('\n')}`);
}

/** Runs `during` while sampling `probe` every few milliseconds; the largest value seen. */
async function sampled<T>(probe: () => Promise<number>, during: () => Promise<T>): Promise<{ result: T; max: number }> {
  let max = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      max = Math.max(max, await probe());
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const result = await during();
  done = true;
  await sampler;
  max = Math.max(max, await probe());
  return { result, max };
}

async function count(where: string, values: unknown[] = []): Promise<number> {
  const { rows } = await sql.query(`SELECT count(*)::int AS n FROM taskhub.instances WHERE ${where}`, values);
  return rows[0].n;
}

async function terminateActive(name: string): Promise<void> {
  const { rows } = await sql.query(`SELECT instance_id FROM taskhub.instances WHERE name = $1 AND ${ACTIVE}`, [name]);
  for (const r of rows) {
    const res = await fetch(`${urls.at(-1)}${BASE}/instances/${r.instance_id}/terminate?reason=next`, { method: 'POST' });
    await res.arrayBuffer();
  }
}

async function untilTrue(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A run's first turn (ExecutionStarted) and its end, from the database. */
async function windows(ids: string[]): Promise<Map<string, { started: number; ended: number; starts: number }>> {
  const { rows } = await sql.query(
    `SELECT i.instance_id, i.completed_at, min(h.event_time) FILTER (WHERE h.event_type = 'ExecutionStarted') AS started,
            count(*) FILTER (WHERE h.event_type = 'ExecutionStarted')::int AS starts
     FROM taskhub.instances i JOIN taskhub.history h USING (instance_id) WHERE i.instance_id = ANY($1) GROUP BY 1, 2`,
    [ids],
  );
  return new Map(rows.map((r) => [r.instance_id, { started: r.started.getTime(), ended: r.completed_at.getTime(), starts: r.starts }]));
}

describe('concurrency control over two server processes', () => {
  it('limit 3: 200 concurrent starts → exactly 3 accepted, never 4 active (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const { result: answers, max } = await sampled(
        () => count(`name = 'LimitedThree' AND ${ACTIVE}`),
        () => Promise.all(Array.from({ length: 200 }, (_, i) => post(`${urls[i % 2]}${BASE}/orchestrators/LimitedThree`, { round, i }))),
      );
      noServerErrors(answers);
      assert.equal(answers.filter((a) => a.status === 202).length, 3, `round ${round}: exactly 3 accepted`);
      assert.equal(answers.filter((a) => a.status === 409).length, 197);
      assert.ok(max <= 3, `round ${round}: at most 3 active, saw ${max}`);
      assert.equal(await count(`name = 'LimitedThree' AND ${ACTIVE}`), 3);
      await terminateActive('LimitedThree');
    }
  });

  it('a per-key limit (2) with two keys: 200 concurrent starts → 2 per key', async () => {
    const probe = async (): Promise<number> => {
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM taskhub.instances WHERE name = 'PerTenantTwo' AND ${ACTIVE} GROUP BY input::jsonb->>'tenant'`);
      return Math.max(0, ...rows.map((r) => r.n as number));
    };
    const { result: answers, max } = await sampled(probe, () =>
      Promise.all(Array.from({ length: 200 }, (_, i) => post(`${urls[i % 2]}${BASE}/orchestrators/PerTenantTwo`, { tenant: i % 4 < 2 ? 'red' : 'blue' }))),
    );
    noServerErrors(answers);
    assert.equal(answers.filter((a) => a.status === 202).length, 4);
    assert.ok(max <= 2, `never more than 2 per key, saw ${max}`);
    const { rows } = await sql.query(`SELECT input::jsonb->>'tenant' AS t, count(*)::int AS n FROM taskhub.instances WHERE name = 'PerTenantTwo' AND ${ACTIVE} GROUP BY 1 ORDER BY 1`);
    assert.deepEqual(rows, [{ t: 'blue', n: 2 }, { t: 'red', n: 2 }]);
    await terminateActive('PerTenantTwo');
  });

  it('queue: 20 starts, one process SIGKILLed mid-queue → all 20 run, one at a time, in arrival order, each once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await post(`${urls[i % 2]}${BASE}/orchestrators/QueuedRun`, { ms: 250, i });
      assert.equal(a.status, 202, JSON.stringify(a.body));
      ids.push(a.body.id as string);
    }
    await untilTrue('three runs done', async () => (await count(`name = 'QueuedRun' AND runtime_status = 'Completed'`)) >= 3);
    const victim = servers[0] as ServerProcess;
    assert.equal(await victim.kill('SIGKILL'), 'SIGKILL');
    const { max } = await sampled(
      () => count(`name = 'QueuedRun' AND runtime_status <> 'Pending' AND ${ACTIVE}`),
      () => untilTrue('all 20 completed', async () => (await count(`name = 'QueuedRun' AND runtime_status = 'Completed'`)) === 20),
    );
    assert.ok(max <= 1, `one at a time, saw ${max} running`);
    assert.equal(await count(`name = 'QueuedRun'`), 20, 'no extra instance');
    const w = await windows(ids);
    const ordered = [...ids].sort((a, b) => (w.get(a)?.started ?? 0) - (w.get(b)?.started ?? 0));
    assert.deepEqual(ordered, ids, 'ran in arrival order');
    for (let i = 0; i < ids.length; i++) {
      const cur = w.get(ids[i] as string);
      assert.equal(cur?.starts, 1, `${ids[i]} started once`);
      if (i > 0) assert.ok((cur?.started ?? 0) >= (w.get(ids[i - 1] as string)?.ended ?? Infinity), `run ${i} began after run ${i - 1} ended`);
    }
    await spawn(); // two processes again for the tests below
  });

  it('replaceQueued: 100 concurrent starts → one runs, at most one waits, the last start wins', async () => {
    const live = urls.slice(-2);
    // The running instance outlasts the storm (it is terminated below, which hands its slot on).
    const first = await post(`${live[0]}${BASE}/orchestrators/LatestWins`, { ms: 600_000, n: 0 });
    assert.equal(first.status, 202);
    const waitingNow = (): Promise<number> => count(`name = 'LatestWins' AND queued_seq IS NOT NULL AND runtime_status = 'Pending'`);
    const { result: answers, max } = await sampled(waitingNow, () =>
      Promise.all(Array.from({ length: 100 }, (_, i) => post(`${live[i % 2]}${BASE}/orchestrators/LatestWins`, { ms: 10, n: i + 1 }))),
    );
    noServerErrors(answers);
    assert.equal(answers.filter((a) => a.status === 202).length, 100);
    assert.ok(max <= 1, `at most one waiting, saw ${max}`);
    const last = await post(`${live[1]}${BASE}/orchestrators/LatestWins`, { ms: 10, n: 'last' });
    assert.equal(last.status, 202);
    const lastId = last.body.id as string;
    assert.equal(await waitingNow(), 1);
    const stop = await fetch(`${live[0]}${BASE}/instances/${first.body.id as string}/terminate?reason=storm%20over`, { method: 'POST' });
    assert.equal(stop.status, 202);
    await untilTrue('the last start completed', async () => (await count(`instance_id = $1 AND runtime_status = 'Completed'`, [lastId])) === 1);
    const { rows } = await sql.query(`SELECT instance_id, runtime_status, output FROM taskhub.instances WHERE name = 'LatestWins'`);
    const completed = rows.filter((r) => r.runtime_status === 'Completed');
    assert.deepEqual(completed.map((r) => r.instance_id), [lastId], 'only the last start ran after the first');
    assert.deepEqual(JSON.parse(completed[0].output), { ms: 10, n: 'last' });
    const replaced = rows.filter((r) => r.runtime_status === 'Terminated' && r.instance_id !== first.body.id);
    assert.equal(replaced.length, 100, 'every storm start was replaced by a newer one');
    const ids = new Set(rows.map((r) => r.instance_id));
    for (const r of replaced) {
      const named = /instance '([^']+)'/.exec(String(r.output))?.[1];
      assert.ok(named && ids.has(named) && named !== r.instance_id, `the reason names its replacement: ${r.output}`);
    }
  });

  it('debounce: a burst of 50 concurrent starts and a last one → one instance, with the last input', async () => {
    const live = urls.slice(-2);
    const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => post(`${live[i % 2]}${BASE}/orchestrators/Debounced`, { i })));
    noServerErrors(burst);
    const last = await post(`${live[0]}${BASE}/orchestrators/Debounced`, { i: 'last' });
    const answers = [...burst, last];
    assert.ok(answers.every((a) => a.status === 202));
    const ids = new Set(answers.map((a) => a.body.id));
    assert.equal(ids.size, 1, 'every start answered with the one instance that will run');
    const id = last.body.id as string;
    await untilTrue('the debounced instance completed', async () => (await count(`instance_id = $1 AND runtime_status = 'Completed'`, [id])) === 1);
    const { rows } = await sql.query(`SELECT output FROM taskhub.instances WHERE name = 'Debounced'`);
    assert.equal(rows.length, 1);
    assert.deepEqual(JSON.parse(rows[0].output), { i: 'last' });
  });
});

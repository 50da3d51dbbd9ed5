/**
 * A worker process killed with SIGKILL in the middle of a 1,000-activity fan-out: a second worker
 * finishes it, the output is right, and every activity result appears exactly once in history.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';

let db: TestDatabase;
let api: TestHub;
const workers: ServerProcess[] = [];

function worker(): ServerProcess {
  const proc = spawnServer(
    {
      DATABASE_URL: db.url,
      TASKHUB_ROLE: 'worker',
      LOG_LEVEL: 'info',
      TASKHUB_TURN_LEASE_SECONDS: '3',
      TASKHUB_SCHEDULES: 'false',
    },
    ['--module', './test/fixtures/test-orchestrations.ts'],
  );
  workers.push(proc);
  return proc;
}

before(async () => {
  db = await createTestDatabase();
  // The API side only: this process starts and reads instances; the workers are other processes.
  api = await startTestHub({ db, env: { TASKHUB_ROLE: 'api' } });
});

after(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await api?.close();
  await db?.drop();
});

it('a second worker finishes a fan-out after the first is killed with SIGKILL', async () => {
  const first = worker();
  await waitForOutput(first, /pg-taskhub started/);
  const started = await api.client.start({ name: 'SlowFanOut', input: JSON.stringify({ count: 1000, ms: 20 }) });
  assert.equal(started.kind, 'created');
  const id = started.kind === 'created' ? started.instanceId : '';

  // Kill it once a good part of the results is in, with activities in flight.
  const completedCount = async (): Promise<number> => {
    const { rows } = await api.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM history WHERE instance_id = $1 AND event_type = 'TaskCompleted'`,
      [id],
    );
    return rows[0]?.n ?? 0;
  };
  for (let i = 0; i < 600 && (await completedCount()) < 150; i++) await new Promise((r) => setTimeout(r, 50));
  const atKill = await completedCount();
  assert.ok(atKill >= 150 && atKill < 1000, `killed mid-run (${atKill} results recorded)`);
  assert.equal(await first.kill('SIGKILL'), 'SIGKILL');

  const killedAt = Date.now();
  const second = worker();
  await waitForOutput(second, /pg-taskhub started/);
  const row = await waitForInstance(api, id, undefined, 120_000);
  const recoverySeconds = (Date.now() - killedAt) / 1000;
  assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
  assert.equal(JSON.parse(row.output as string), (1000 * 1001 * 2001) / 6);

  const { rows } = await api.pool.query<{ task: number; n: number }>(
    `SELECT (event->>'taskId')::int AS task, count(*)::int AS n FROM history
     WHERE instance_id = $1 AND event_type IN ('TaskCompleted', 'TaskFailed') GROUP BY 1`,
    [id],
  );
  assert.equal(rows.length, 1000, 'every task has a result');
  assert.ok(rows.every((r) => r.n === 1), 'no result recorded twice');
  const { rows: gaps } = await api.pool.query<{ n: number; max: number }>(
    'SELECT count(*)::int AS n, max(seq) AS max FROM history WHERE instance_id = $1',
    [id],
  );
  assert.equal(gaps[0]?.max, (gaps[0]?.n ?? 0) - 1, 'history has no gaps');
  process.stdout.write(`# crash recovery: killed after ${atKill} results; completed ${recoverySeconds.toFixed(1)} s after the kill\n`);
});

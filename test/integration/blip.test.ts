/**
 * A database blip mid-run: every backend of the hub's database is terminated (pg_terminate_backend)
 * at two chosen moments of one run, each caught on the event itself rather than on the clock:
 *   1. while the activity result recorder is writing (it waits on a row lock this test holds,
 *      seen in pg_stat_activity), and
 *   2. while a turn is committing (consuming its message waits on this test's lock on that inbox row).
 * The run finishes within a few seconds of each blip (not the 30 s turn lease or the activity
 * heartbeat), every activity ran exactly once, nothing is lost, and each component logged the
 * outage once at warn with a matching "recovered" line. Then the same for the scheduler, caught
 * in a pass (its query waits on this test's lock on the schedules table, seen in pg_locks).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { registerExamples } from '../../src/examples/index.ts';
import { createLogger } from '../../src/log.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { startTestHub, type TestHub } from '../helpers/hub.ts';

const executions: number[] = [];
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (openGate = resolve));

function registry(): Registry {
  return registerExamples(new Registry(), { pool: undefined }, { dataIngestSchedule: null })
    .activity('Held', async (n: number) => {
      executions.push(n);
      await gate;
      return n * n;
    })
    .orchestration('BlipFlow', function* (context) {
      const squares: number[] = yield context.df.Task.all([1, 2, 3].map((n) => context.df.callActivity<number>('Held', n)));
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 2000));
      const last: number = yield context.df.callActivity<number>('Held', 4);
      return squares.reduce((a, b) => a + b, 0) + last;
    });
}

let hub: TestHub;
let control: pg.Client;
const lines: Array<{ level: number; msg: string; component?: string; outageMs?: number }> = [];

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  hub = await startTestHub({ registry: registry(), log: createLogger('warn', sink) });
  control = new pg.Client({ connectionString: hub.db.url });
  await control.connect();
  await control.query('SET search_path TO taskhub');
});
after(async () => {
  openGate();
  await control?.end();
  await hub?.close();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${JSON.stringify(lines)}; ${JSON.stringify((await control.query('SELECT * FROM instances')).rows)}; ${JSON.stringify((await control.query('SELECT pid, state, wait_event_type, wait_event, application_name, left(query, 60) q FROM pg_stat_activity WHERE datname = current_database()')).rows)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A backend of the hub (not ours) waiting on a lock: the write this test is holding up. */
async function hubBackendWaitingOnLock(): Promise<true | undefined> {
  // The probe runs inside the transaction that holds the lock, where pg_stat_activity is read from a
  // snapshot taken at its first use: clear it, or a wait that began after that first read is never seen.
  await control.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await control.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`,
  );
  return rows[0].n > 0 ? true : undefined;
}

async function terminateHubBackends(): Promise<number> {
  const { rows } = await control.query(
    `SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend') t`,
  );
  return rows[0].n;
}

async function instance(id: string): Promise<{ runtime_status: string; history_length: number; execution_id: string; output: string | null }> {
  const { rows } = await control.query(`SELECT runtime_status, history_length, execution_id, output FROM instances WHERE instance_id = $1`, [id]);
  return rows[0];
}

async function historyHas(id: string, type: string): Promise<true | undefined> {
  const { rows } = await control.query(`SELECT 1 FROM history WHERE instance_id = $1 AND event_type = $2`, [id, type]);
  return rows.length > 0 ? true : undefined;
}

it('a blip while results are recorded and while a turn commits costs about the blip: no lease wait, nothing lost or run twice', async () => {
  const id = 'blip-run';
  await hub.client.start({ name: 'BlipFlow', instanceId: id, input: undefined });
  await until('the three activities to run', async () => (executions.length === 3 ? true : undefined));

  // 1. The recorder's transaction waits on the instance row this test locks; then every backend goes.
  await control.query('BEGIN');
  await control.query(`SELECT 1 FROM instances WHERE instance_id = $1 FOR NO KEY UPDATE`, [id]);
  openGate();
  await until('the recorder to wait on the row lock', hubBackendWaitingOnLock);
  const killed1 = await terminateHubBackends();
  const blip1 = Date.now();
  await control.query('COMMIT');
  await until('the timer to be created (results recorded, turn committed)', () => historyHas(id, 'TimerCreated'));
  const recovered1 = (Date.now() - blip1) / 1000;

  // 2. The timer's turn consumes the timer's inbox message as it commits; this test holds that
  // row locked (a lock on the instance row would make the claim skip it), so the turn's commit
  // waits on it; then every backend goes.
  await control.query('BEGIN');
  const { rowCount } = await control.query(`SELECT 1 FROM inbox WHERE instance_id = $1 FOR UPDATE`, [id]);
  assert.equal(rowCount, 1, 'the timer message');
  await until('the timer turn to wait on its message', hubBackendWaitingOnLock, 10_000);
  const killed2 = await terminateHubBackends();
  const blip2 = Date.now();
  await control.query('ROLLBACK');
  const done = await until('the run to complete', async () => {
    const r = await instance(id);
    return ['Completed', 'Failed', 'Terminated'].includes(r.runtime_status) ? r : undefined;
  });
  const recovered2 = (Date.now() - blip2) / 1000;

  assert.ok(killed1 > 0 && killed2 > 0, `backends terminated: ${killed1}, ${killed2}`);
  assert.equal(done.runtime_status, 'Completed', String(done.output));
  assert.equal(JSON.parse(done.output as string), 1 + 4 + 9 + 16, 'nothing lost');
  assert.deepEqual([...executions].sort(), [1, 2, 3, 4], 'every activity ran exactly once');
  // "A few seconds", against a 30 s lease and a 15 s heartbeat expiry (the blips themselves are instant).
  assert.ok(recovered1 < 5, `after the recorder's blip the run went on in ${recovered1} s`);
  assert.ok(recovered2 < 5, `after the turn's blip the run completed in ${recovered2} s`);

  const { rows: attempts } = await control.query(`SELECT turn_attempts FROM instances WHERE instance_id = $1`, [id]);
  assert.equal(attempts[0].turn_attempts, 0);
  for (const component of ['activity result recorder', 'turn dispatcher']) {
    const lost = lines.filter((l) => l.msg === `${component}: database connection lost; retrying`);
    const back = lines.filter((l) => l.msg === `${component}: database connection recovered`);
    assert.ok(lost.length >= 1, `${component}: no 'lost' line in ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.ok(lost.every((l) => l.level === 40) && back.every((l) => l.level === 40), 'both at warn');
    assert.equal(back.length, lost.length, `${component}: each 'lost' has its 'recovered' line`);
    assert.ok(lost.length <= 2, `${component}: logged once per blip, not per retry (${lost.length})`);
    for (const l of back) assert.equal(typeof l.outageMs, 'number');
  }
  assert.equal(lines.filter((l) => l.level >= 50).length, 0, `no error lines: ${JSON.stringify(lines.filter((l) => l.level >= 50))}`);
});

it('a blip during a schedule pass: the scheduler retries at once, one "lost" line at warn and its "recovered" line', async () => {
  const from = lines.length;
  // The scheduler reads the schedules table on every pass (at most a second apart): hold the table
  // and wait until its query is seen waiting on the lock in pg_locks.
  await control.query('BEGIN');
  await control.query('LOCK TABLE schedules IN ACCESS EXCLUSIVE MODE');
  await until('the scheduler to wait on the schedules table', async () => {
    const { rows } = await control.query(
      `SELECT 1 FROM pg_locks WHERE relation = 'schedules'::regclass AND NOT granted`,
    );
    return rows.length > 0 ? true : undefined;
  });
  await terminateHubBackends();
  await control.query('ROLLBACK');
  const recovered = await until('the scheduler to log its recovery', async () =>
    lines.slice(from).find((l) => l.msg === 'scheduler: database connection recovered'),
  );
  const lost = lines.slice(from).filter((l) => l.msg === 'scheduler: database connection lost; retrying');
  assert.equal(lost.length, 1, JSON.stringify(lines.slice(from).map((l) => l.msg)));
  assert.equal(lost[0]?.level, 40);
  assert.equal(recovered.level, 40);
  assert.ok((recovered.outageMs ?? Infinity) < 5000, `recovered after ${recovered.outageMs} ms`);
  assert.equal(lines.slice(from).filter((l) => l.msg === 'schedule pass failed; retrying').length, 0);
});

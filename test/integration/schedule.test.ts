/**
 * A schedule firing every second, on two worker processes, for 30 seconds, while each run lasts
 * 2.5 s: runs never overlap, and every tick either started a run or was recorded as skipped.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';
import pg from 'pg';

const SECONDS = Number(process.env.SCHEDULE_TEST_SECONDS ?? 30);
let db: TestDatabase;
const workers: ServerProcess[] = [];

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  await db?.drop();
});

it(`fires exactly once per tick across two workers for ${SECONDS} s, never overlapping runs`, async () => {
  for (let i = 0; i < 2; i++) {
    const w = spawnServer({ DATABASE_URL: db.url, TASKHUB_ROLE: 'worker', LOG_LEVEL: 'info' }, ['--module', './test/fixtures/scheduled-module.ts']);
    workers.push(w);
    await waitForOutput(w, /pg-taskhub started/);
    if (i === 0) {
      // A row an earlier configuration left, due every second, for an orchestration neither worker
      // registers: never claimed, so no tick of it is started or recorded as failed.
      const setup = new pg.Client({ connectionString: db.url });
      await setup.connect();
      await setup.query(`INSERT INTO taskhub.schedules (name, cron, next_run_at) VALUES ('Retired', '* * * * * *', now() - interval '1 minute')`);
      await setup.end();
    }
  }
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  await Promise.all(workers.map((w) => w.kill('SIGTERM')));

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const ticks = (
      await client.query<{ tick_at: Date; outcome: string }>(`SELECT tick_at, outcome FROM taskhub.schedule_ticks WHERE name = 'EverySecond' ORDER BY tick_at`)
    ).rows;
    assert.ok(ticks.length >= SECONDS - 3, `about one tick per second (${ticks.length})`);
    // One row per tick (primary key), on consecutive seconds: no tick lost, none fired twice.
    for (let i = 1; i < ticks.length; i++) {
      const gap = (ticks[i]?.tick_at.getTime() ?? 0) - (ticks[i - 1]?.tick_at.getTime() ?? 0);
      assert.equal(gap, 1000, `ticks ${i - 1} and ${i} are one second apart`);
    }
    const started = ticks.filter((t) => t.outcome === 'started').length;
    const skipped = ticks.filter((t) => t.outcome === 'skipped').length;
    assert.equal(started + skipped, ticks.length, 'every tick started a run or was skipped');
    assert.ok(started >= 5 && skipped >= started, `runs of 2.5 s on a 1 s schedule: ${started} started, ${skipped} skipped`);

    const schedule = (await client.query(`SELECT started_count, skipped_count FROM taskhub.schedules WHERE name = 'EverySecond'`)).rows[0];
    assert.equal(Number(schedule.started_count), started);
    assert.equal(Number(schedule.skipped_count), skipped);

    const retired = await client.query(`SELECT failed_count, last_tick_at FROM taskhub.schedules WHERE name = 'Retired'`);
    assert.deepEqual(retired.rows[0], { failed_count: '0', last_tick_at: null }, 'the unregistered row was left alone');
    assert.equal((await client.query(`SELECT 1 FROM taskhub.schedule_ticks WHERE name = 'Retired'`)).rowCount, 0);

    const runs = (
      await client.query<{ created_at: Date; completed_at: Date | null }>(`SELECT created_at, completed_at FROM taskhub.instances WHERE name = 'EverySecond' ORDER BY created_at`)
    ).rows;
    assert.equal(runs.length, started);
    for (let i = 1; i < runs.length; i++) {
      const prevEnd = runs[i - 1]?.completed_at;
      assert.ok(prevEnd && prevEnd <= (runs[i]?.created_at as Date), `run ${i} began before run ${i - 1} ended`);
    }
    // Both processes took part in firing (the row lock hands ticks to whichever is free).
    const firedBy = workers.map((w) => (w.output().match(/schedule (started a run|tick skipped)/g) ?? []).length);
    process.stdout.write(`# schedule: ${ticks.length} ticks, ${started} started, ${skipped} skipped; fired by worker A ${firedBy[0]}, B ${firedBy[1]}\n`);
  } finally {
    await client.end();
  }
});

/**
 * Every schedule overlap policy at once, on two real worker processes sharing one database: five
 * orchestrations on a one-second cron (test/fixtures/overlap-module.ts), each run lasting 2.5 s.
 *
 * Phase 1 runs both workers for OVERLAP_TEST_SECONDS (20). Then both are SIGKILLed (a crash, with
 * runs active and buffered ticks waiting), stay down for DOWN_SECONDS (9, longer than the 5 s
 * catch-up window) and are started again for 8 s. Meanwhile the instances table is sampled every
 * 100 ms. Checked per policy: never more active runs than the policy allows; every tick due from
 * the first to the last is one row with one outcome (none lost across the crash, none twice);
 * each run belongs to exactly one tick; missed ticks later than the window were skipped and the
 * others handled by the policy; buffered ticks each started once, in order, after the run before.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { OVERLAP_POLICIES, type OverlapPolicy } from '../../src/orchestrator/core/schedule.ts';
import { overlapName } from '../fixtures/overlap-module.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { type ServerProcess, spawnServer, waitForOutput } from '../helpers/process.ts';

const SECONDS = Number(process.env.OVERLAP_TEST_SECONDS ?? 20);
const DOWN_SECONDS = 9;
const AFTER_SECONDS = 8;
const WINDOW_SECONDS = 5;
const ACTIVE = `('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`;

let db: TestDatabase;
let workers: ServerProcess[] = [];
const everyWorker: ServerProcess[] = [];

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await Promise.all(everyWorker.map((w) => w.kill('SIGKILL')));
  await db?.drop();
});

async function startWorkers(): Promise<void> {
  workers = [0, 1].map(() =>
    spawnServer({ DATABASE_URL: db.url, TASKHUB_ROLE: 'worker', LOG_LEVEL: 'info', OVERLAP_CATCHUP_SECONDS: String(WINDOW_SECONDS) }, [
      '--module',
      './test/fixtures/overlap-module.ts',
    ]),
  );
  everyWorker.push(...workers);
  await Promise.all(workers.map((w) => waitForOutput(w, /pg-taskhub started/, 60_000)));
}

/** The most active runs and waiting buffered ticks seen per orchestration, sampled until stopped. */
function sample(client: pg.Client): { stop(): Promise<void>; maxActive: Map<string, number>; maxWaiting: Map<string, number>; samples(): number } {
  const maxActive = new Map<string, number>();
  const maxWaiting = new Map<string, number>();
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<{ name: string; active: number; waiting: number }>(
        `SELECT s.name,
           (SELECT count(*)::int FROM taskhub.instances i WHERE i.name = s.name AND i.runtime_status IN ${ACTIVE}) AS active,
           (SELECT count(*)::int FROM taskhub.schedule_ticks t WHERE t.name = s.name AND t.outcome = 'buffered' AND t.started_at IS NULL) AS waiting
         FROM taskhub.schedules s`,
      );
      for (const r of rows) {
        maxActive.set(r.name, Math.max(maxActive.get(r.name) ?? 0, r.active));
        maxWaiting.set(r.name, Math.max(maxWaiting.get(r.name) ?? 0, r.waiting));
      }
      n++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    maxActive,
    maxWaiting,
    samples: () => n,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

interface TickRow {
  tick_at: Date;
  outcome: string;
  instance_id: string | null;
  detail: string | null;
  started_at: Date | null;
  recorded_at: Date;
}
interface RunRow {
  instance_id: string;
  runtime_status: string;
  output: string | null;
  created_at: Date;
  completed_at: Date | null;
  /** Its first history event (its first turn), which cannot come before its creation committed. */
  began: Date;
}

it(`each overlap policy on a 1 s cron with 2.5 s runs over two workers for ${SECONDS} s, then a crash and a catch-up`, async () => {
  await startWorkers();
  const monitor = new pg.Client({ connectionString: db.url });
  await monitor.connect();
  const sampler = sample(monitor);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const firedBy = workers.map((w) => (w.output().match(/schedule (started a run|tick skipped|tick buffered)|buffered schedule tick started/g) ?? []).length);

  await Promise.all(workers.map((w) => w.kill('SIGKILL')));
  const killedAt = new Date();
  await new Promise((r) => setTimeout(r, DOWN_SECONDS * 1000));
  await startWorkers();
  await new Promise((r) => setTimeout(r, AFTER_SECONDS * 1000));
  await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  await sampler.stop();

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const report: string[] = [];
  try {
    for (const policy of OVERLAP_POLICIES) {
      const name = overlapName(policy);
      const ticks = (
        await client.query<TickRow>(`SELECT tick_at, outcome, instance_id, detail, started_at, recorded_at FROM taskhub.schedule_ticks WHERE name = $1 ORDER BY tick_at`, [name])
      ).rows;
      const runs = (
        await client.query<RunRow>(`SELECT i.instance_id, i.runtime_status, i.output, i.created_at, i.completed_at,
                  COALESCE((SELECT min(h.event_time) FROM taskhub.history h WHERE h.instance_id = i.instance_id), i.created_at) AS began
           FROM taskhub.instances i WHERE i.name = $1 ORDER BY i.created_at, i.completed_at NULLS LAST`, [name])
      ).rows;
      checkAccounting(policy, ticks, runs, killedAt);
      checkPolicy(policy, ticks, runs, sampler.maxActive.get(name) ?? 0, sampler.maxWaiting.get(name) ?? 0);
      const count = (o: string) => ticks.filter((t) => t.outcome === o).length;
      report.push(
        `${policy}: ${ticks.length} ticks (${['started', 'buffered', 'skipped', 'replaced'].map((o) => `${count(o)} ${o}`).join(', ')}), ${runs.length} runs, max active ${sampler.maxActive.get(name)}, max waiting ${sampler.maxWaiting.get(name)}`,
      );
    }
    assert.ok(sampler.samples() > SECONDS * 3, `the instances table was sampled often (${sampler.samples()} samples)`);
    assert.ok(firedBy.every((n) => n > 0), `both workers handled ticks (${firedBy.join(', ')})`);
    process.stdout.write(`# schedule overlap (${sampler.samples()} samples; ticks handled before the crash by worker A ${firedBy[0]}, B ${firedBy[1]}):\n${report.map((l) => `#   ${l}\n`).join('')}`);
  } finally {
    await client.end();
    await monitor.end();
  }
});

/** Every tick from the first to the last has one row (consecutive seconds); every run belongs to exactly one tick; the catch-up window was applied. */
function checkAccounting(policy: OverlapPolicy, ticks: TickRow[], runs: RunRow[], killedAt: Date): void {
  assert.ok(ticks.length >= SECONDS + DOWN_SECONDS + AFTER_SECONDS - 6, `${policy}: about one tick a second across both phases and the downtime (${ticks.length})`);
  for (let i = 1; i < ticks.length; i++) {
    assert.equal(ticks[i]!.tick_at.getTime() - ticks[i - 1]!.tick_at.getTime(), 1000, `${policy}: ticks ${i - 1} and ${i} are one second apart (none lost, none twice)`);
  }
  const byInstance = new Map<string, number>();
  for (const t of ticks) {
    const ran = t.outcome === 'started' || t.outcome === 'replaced' || (t.outcome === 'buffered' && t.started_at !== null);
    if (ran) {
      assert.ok(t.instance_id, `${policy}: the tick ${t.tick_at.toISOString()} (${t.outcome}) names its run`);
      byInstance.set(t.instance_id, (byInstance.get(t.instance_id) ?? 0) + 1);
    }
  }
  assert.deepEqual([...byInstance.values()].filter((n) => n !== 1), [], `${policy}: no run claimed by two ticks`);
  assert.deepEqual(runs.map((r) => r.instance_id).sort(), [...byInstance.keys()].sort(), `${policy}: every run is a tick's, every tick's run exists`);

  // The missed ticks: due while both workers were down. A tick handled later than the window after
  // its time was skipped for it; one handled within was not.
  const missed = ticks.filter((t) => t.tick_at > killedAt && t.recorded_at.getTime() - t.tick_at.getTime() > 1500);
  assert.ok(missed.length >= DOWN_SECONDS - 2, `${policy}: the downtime left missed ticks (${missed.length})`);
  let beyond = 0;
  for (const t of missed) {
    const late = (t.recorded_at.getTime() - t.tick_at.getTime()) / 1000;
    const catchupSkip = t.outcome === 'skipped' && /beyond the catch-up window/.test(t.detail ?? '');
    assert.equal(catchupSkip, late > WINDOW_SECONDS, `${policy}: the tick ${t.tick_at.toISOString()} handled ${late} s late: ${t.outcome} (${t.detail})`);
    if (catchupSkip) beyond++;
  }
  assert.ok(beyond >= 1 && beyond < missed.length, `${policy}: some missed ticks beyond the window were skipped (${beyond}), the others handled (${missed.length - beyond})`);
}

/**
 * Runs in creation order never overlap: each one's first turn came no earlier than the end of the
 * one before (completed_at is its ending transaction's start, so earlier than its commit, which
 * came before the next run's INSERT could succeed).
 */
function assertSequential(policy: OverlapPolicy, runs: RunRow[]): void {
  for (let i = 1; i < runs.length; i++) {
    const prevEnd = runs[i - 1]!.completed_at;
    assert.ok(prevEnd !== null && prevEnd <= runs[i]!.began, `${policy}: run ${runs[i]!.instance_id} began before ${runs[i - 1]!.instance_id} ended`);
  }
}

function checkPolicy(policy: OverlapPolicy, ticks: TickRow[], runs: RunRow[], maxActive: number, maxWaiting: number): void {
  const outcomes = new Set(ticks.filter((t) => !/catch-up/.test(t.detail ?? '')).map((t) => t.outcome));
  const allowed: Record<OverlapPolicy, string[]> = {
    skip: ['started', 'skipped'],
    bufferOne: ['started', 'buffered', 'skipped'],
    bufferAll: ['started', 'buffered'],
    terminateOther: ['started', 'replaced'],
    allowAll: ['started'],
  };
  assert.deepEqual([...outcomes].filter((o) => !allowed[policy].includes(o)), [], `${policy}: outcomes ${[...outcomes].join(', ')}`);
  if (policy !== 'allowAll') {
    assert.ok(maxActive <= 1, `${policy}: never more than one active run (saw ${maxActive})`);
    assertSequential(policy, runs);
  }
  const buffered = ticks.filter((t) => t.outcome === 'buffered');
  switch (policy) {
    case 'skip':
      assert.ok(ticks.filter((t) => t.outcome === 'skipped').length >= runs.length, `skip: runs of 2.5 s on a 1 s cron skip most ticks`);
      break;
    case 'bufferOne':
      assert.ok(maxWaiting <= 1, `bufferOne: at most one tick waits (saw ${maxWaiting})`);
      assert.ok(buffered.length >= 3, `bufferOne: ticks were buffered (${buffered.length})`);
      assert.ok(buffered.slice(0, -1).every((t) => t.started_at !== null), 'bufferOne: every buffered tick but the last started');
      break;
    case 'bufferAll': {
      assert.ok(maxWaiting >= 3, `bufferAll: ticks pile up (saw ${maxWaiting})`);
      const startedLater = buffered.filter((t) => t.started_at !== null);
      assert.ok(startedLater.length >= 3, `bufferAll: buffered ticks started (${startedLater.length})`);
      assert.ok(buffered.slice(0, startedLater.length).every((t) => t.started_at !== null), 'bufferAll: the buffer is released oldest first');
      for (let i = 1; i < startedLater.length; i++) assert.ok(startedLater[i]!.started_at! >= startedLater[i - 1]!.started_at!, 'bufferAll: in tick order');
      break;
    }
    case 'terminateOther': {
      const replaced = ticks.filter((t) => t.outcome === 'replaced');
      assert.ok(replaced.length >= SECONDS / 2, `terminateOther: most ticks replace the running run (${replaced.length})`);
      const terminated = runs.filter((r) => r.runtime_status === 'Terminated');
      assert.equal(terminated.length, replaced.length, 'terminateOther: each replacing tick terminated one run');
      assert.ok(terminated.every((r) => /overlap terminateOther/.test(r.output ?? '')), 'terminateOther: the reason names the policy');
      break;
    }
    case 'allowAll':
      assert.ok(maxActive >= 2, `allowAll: runs overlap, no limit (saw ${maxActive} at once)`);
      assert.equal(ticks.filter((t) => t.outcome !== 'started' && !/catch-up window/.test(t.detail ?? '')).length, 0, 'allowAll: every tick within the window started');
      break;
  }
}

/**
 * The engine's semantics on real Postgres and pg-boss: terminate, suspend/resume, rewind,
 * continue-as-new, sub-orchestration failures, buffered events, timers that survive a restart,
 * non-determinism and poison turns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HistoryEvent } from '../../src/orchestrator/core/history.ts';
import { Registry } from '../../src/orchestrator/registry.ts';
import { registerExamples } from '../../src/examples/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { dispatcherPassedBy, startAndWait, startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';
import { slowSquares } from '../fixtures/test-orchestrations.ts';

async function start(hub: TestHub, name: string, input?: unknown, instanceId?: string): Promise<string> {
  const started = await hub.client.start({ name, instanceId, input: input === undefined ? undefined : JSON.stringify(input) });
  assert.equal(started.kind, 'created');
  return started.kind === 'created' ? started.instanceId : '';
}

async function history(hub: TestHub, id: string): Promise<HistoryEvent[]> {
  const status = await hub.client.status(id, { history: true });
  return status?.history ?? [];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}


describe('engine semantics', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub?.close();
  });

  it('runs every shipped example to its documented output', async () => {
    const cases: Array<[string, unknown, unknown]> = [
      ['HelloSequence', undefined, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']],
      ['FanOutFanIn', { count: 10 }, 385],
      ['Approval', { timeoutSeconds: 1 }, 'timed out'],
      ['Countdown', 5, 'done'],
      ['ParentOfHello', undefined, ['Hello Tokyo!', 'Hello Seattle!', 'Hello London!']],
      ['RetryDemo', undefined, 3],
    ];
    const rows = await Promise.all(cases.map(([name, input]) => startAndWait(hub, name, input)));
    rows.forEach((row, i) => {
      assert.equal(row.runtimeStatus, 'Completed', `${cases[i]?.[0]}: ${row.output}`);
      assert.deepEqual(JSON.parse(row.output as string), cases[i]?.[2]);
    });
  });

  it('Approval completes with the raised event', async () => {
    const id = await start(hub, 'Approval', { timeoutSeconds: 60 });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
    await hub.client.raiseEvent(id, 'Approval', 'false');
    const row = await waitForInstance(hub, id);
    assert.equal(JSON.parse(row.output as string), 'rejected');
  });

  it('terminate during a fan-out cancels the queued jobs and ignores late results', async () => {
    const id = await start(hub, 'SlowFanOut', { count: 400, ms: 200 });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
    // Terminate while activities run: wait until some jobs are active in pg-boss.
    await until('activities to be running', async () => {
      const { rows } = await hub.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${hub.config.schema}_boss.job WHERE data->>'instanceId' = $1 AND state = 'active'`,
        [id],
      );
      return (rows[0]?.n ?? 0) > 0;
    });
    await hub.client.terminate(id, 'operator said stop');
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Terminated');
    assert.equal(JSON.parse(row.output as string), 'operator said stop');
    const { rows: jobs } = await hub.pool.query<{ state: string; n: number }>(
      `SELECT state, count(*)::int AS n FROM ${hub.config.schema}_boss.job WHERE data->>'instanceId' = $1 GROUP BY state`,
      [id],
    );
    const byState = Object.fromEntries(jobs.map((j) => [j.state, j.n]));
    assert.ok((byState.cancelled ?? 0) > 100, `most jobs cancelled: ${JSON.stringify(byState)}`);
    assert.equal(byState.created ?? 0, 0, 'nothing left queued');
    // The activities that were running finish (or abort) and report late: wait until every one
    // that started has settled and no engine transaction is in flight (a result being recorded
    // holds a pool client from the moment the activity returns: the recorder checks one out in
    // the same microtask run, before this check's next poll).
    await until('the running activities to settle and report', async () =>
      slowSquares.settled === slowSquares.started && hub.pool.totalCount === hub.pool.idleCount && hub.pool.waitingCount === 0,
    );
    const events = await history(hub, id);
    const terminatedAt = events.findIndex((e) => e.type === 'ExecutionTerminated');
    assert.equal(terminatedAt, events.length - 1, 'nothing recorded after the termination');
    assert.equal((await hub.client.get(id))?.runtimeStatus, 'Terminated');
  });

  it('suspend, raise an event, resume: the event waits for the resume', async () => {
    const id = await start(hub, 'Approval', { timeoutSeconds: 60 });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
    await hub.client.suspend(id, 'maintenance');
    await hub.client.raiseEvent(id, 'Approval', 'true');
    await dispatcherPassedBy(hub);
    assert.equal((await hub.client.get(id))?.runtimeStatus, 'Suspended');
    await hub.client.resume(id, 'done');
    const row = await waitForInstance(hub, id);
    assert.equal(JSON.parse(row.output as string), 'approved');
    const types = (await history(hub, id)).map((e) => e.type);
    assert.ok(types.indexOf('ExecutionSuspended') < types.indexOf('ExecutionResumed'));
    assert.ok(types.indexOf('ExecutionResumed') < types.indexOf('EventRaised'), 'the event is applied after the resume');
  });

  it('a terminated suspended instance stays terminated', async () => {
    const id = await start(hub, 'Approval', { timeoutSeconds: 60 });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
    await hub.client.suspend(id, undefined);
    await hub.client.terminate(id, 'cancelled while suspended');
    assert.equal((await waitForInstance(hub, id)).runtimeStatus, 'Terminated');
  });

  it('rewinds RewindDemo from Failed to Completed, keeping the history of the execution', async () => {
    const id = await start(hub, 'RewindDemo');
    const failed = await waitForInstance(hub, id);
    assert.equal(failed.runtimeStatus, 'Failed');
    assert.match(failed.output as string, /FailOnce fails on its first execution/);
    await hub.client.rewind(id, 'try again');
    const row = await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Completed');
    assert.equal(JSON.parse(row.output as string), 'recovered');
    const events = await history(hub, id);
    assert.equal(events.filter((e) => e.type === 'TaskFailed').length, 0);
    assert.equal(events.filter((e) => e.type === 'ExecutionRewound').length, 1);
    assert.equal(events.filter((e) => e.type === 'TaskScheduled').length, 1, 'the task is re-run, not re-scheduled');
  });

  it('continue-as-new resets the history to the last execution', async () => {
    const row = await startAndWait(hub, 'Countdown', 20);
    assert.equal(JSON.parse(row.output as string), 'done');
    const events = await history(hub, row.instanceId);
    assert.equal(events.filter((e) => e.type === 'ExecutionStarted').length, 1);
    assert.equal(events.find((e) => e.type === 'ExecutionStarted')?.payload, '0');
    assert.deepEqual(JSON.parse(row.customStatus as string), { remaining: 0 });
    const { rows } = await hub.pool.query<{ n: number }>('SELECT count(DISTINCT execution_id)::int AS n FROM history WHERE instance_id = $1', [
      row.instanceId,
    ]);
    assert.equal(rows[0]?.n, 1);
  });

  it('a failing sub-orchestration surfaces in the parent, catchable or not', async () => {
    const caught = await startAndWait(hub, 'CatchingParent');
    assert.equal(caught.runtimeStatus, 'Completed');
    assert.match(JSON.parse(caught.output as string), /caught: Orchestrator function 'FailingChild' failed: .*child went wrong/);
    const uncaught = await startAndWait(hub, 'UncaughtParent');
    assert.equal(uncaught.runtimeStatus, 'Failed');
    assert.equal(uncaught.failure?.type, 'TaskFailedError');
    const child = await hub.client.get(`${uncaught.instanceId}:0`);
    assert.equal(child?.runtimeStatus, 'Failed');
    assert.equal(child?.failure?.type, 'TaskFailedError');
    assert.match(child?.failure?.message ?? '', /Activity function 'Boom' failed: child went wrong/);
  });

  it('fails a sub-orchestration start whose default child id would be too long, at once and clearly', async () => {
    const parentId = 'p'.repeat(255); // the child would be `${parentId}:0`, 257 characters
    const row = await startAndWait(hub, 'ParentOfHello', undefined, parentId);
    assert.equal(row.runtimeStatus, 'Failed');
    assert.match(row.failure?.message ?? '', /sub-orchestration instance ID .* must be 1 to 256 characters long; pass an explicit, shorter instance ID/);
  });

  it('delivers an event raised before the orchestration waits for it', async () => {
    const id = await start(hub, 'WorkThenWait');
    await hub.client.raiseEvent(id, 'Go', JSON.stringify({ early: true }));
    const row = await waitForInstance(hub, id);
    assert.deepEqual(JSON.parse(row.output as string), { first: 9, event: { early: true } });
  });

  it('delivers buffered events of one name in arrival order', async () => {
    const id = await start(hub, 'TwoEvents');
    await hub.client.raiseEvent(id, 'Step', '"first"');
    await hub.client.raiseEvent(id, 'step', '"second"');
    const row = await waitForInstance(hub, id);
    assert.deepEqual(JSON.parse(row.output as string), ['first', 'second']);
  });

  it('quarantines an instance whose turns keep failing to commit', async () => {
    const id = await start(hub, 'Approval', { timeoutSeconds: 60 });
    await waitForInstance(hub, id, (r) => r.runtimeStatus === 'Running');
    // As if workers had crashed mid-turn poisonAttempts times: claims counted, nothing committed.
    await hub.pool.query('UPDATE instances SET turn_attempts = $2, wake_at = now() WHERE instance_id = $1', [
      id,
      hub.config.engine.poisonAttempts,
    ]);
    hub.dispatcher?.wake();
    const row = await waitForInstance(hub, id);
    assert.equal(row.runtimeStatus, 'Failed');
    assert.equal(row.failure?.type, 'PoisonTurn');
    assert.match(row.failure?.message ?? '', /quarantined/);
  });
});

describe('durability across restarts and code changes', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.drop();
  });

  it('a durable timer fires after the process that created it is gone', async () => {
    const first = await startTestHub({ db });
    const id = await start(first, 'Approval', { timeoutSeconds: 2 });
    await waitForInstance(first, id, (r) => r.runtimeStatus === 'Running');
    await first.close();
    const second = await startTestHub({ db });
    try {
      const row = await waitForInstance(second, id);
      assert.equal(JSON.parse(row.output as string), 'timed out');
    } finally {
      await second.close();
    }
  });

  it('fails an instance whose code changed under it, naming the task, and lets others go on', async () => {
    const v1 = await startTestHub({ db });
    const id = await start(v1, 'Versioned');
    await waitForInstance(v1, id, (r) => r.runtimeStatus === 'Running');
    // Wait until v1 has recorded SayHello's result and waits for the event.
    for (let i = 0; i < 200 && !(await history(v1, id)).some((e) => e.type === 'TaskCompleted'); i++) await sleep(25);
    await v1.close();

    const v2registry = registerExamples(new Registry(), { pool: undefined }, { dataIngestSchedule: null });
    v2registry.orchestration('Versioned', function* (context) {
      yield context.df.callActivity('Square', 2); // was SayHello('v1') at task 0
      yield context.df.waitForExternalEvent('Continue');
      return 'v2 done';
    });
    const v2 = await startTestHub({ db, registry: v2registry });
    try {
      await v2.client.raiseEvent(id, 'Continue', 'true');
      const row = await waitForInstance(v2, id);
      assert.equal(row.runtimeStatus, 'Failed');
      assert.equal(row.failure?.type, 'NonDeterminismError');
      assert.match(row.failure?.message ?? '', /task 0/);
      assert.match(row.failure?.message ?? '', /'SayHello'/);
      assert.match(row.failure?.message ?? '', /'Square'/);
      const other = await startAndWait(v2, 'HelloSequence');
      assert.equal(other.runtimeStatus, 'Completed');
    } finally {
      await v2.close();
    }
  });
});


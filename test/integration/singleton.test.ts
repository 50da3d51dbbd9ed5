/**
 * The single-instance guarantee: decided by the unique partial index, in the INSERT, under any
 * concurrency; conflict policies; DataIngest loading exactly once.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { EngineError } from '../../src/orchestrator/engine-error.ts';
import { ACTIVE_SQL } from '../../src/orchestrator/store/sql.ts';
import { startTestHub, type TestHub, waitForInstance } from '../helpers/hub.ts';

const ACTIVE = `runtime_status IN ${ACTIVE_SQL}`;

describe('single-instance guarantee', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub?.close();
  });

  async function rawInsert(client: pg.Client, key: string): Promise<void> {
    await client.query(
      `INSERT INTO taskhub.instances (instance_id, name, execution_id, runtime_status, singleton_key) VALUES ($1, 'Raw', $2, 'Running', $3)`,
      [randomUUID(), randomUUID(), key],
    );
  }

  it('two connections racing to insert an active row with one key: exactly one commits', async () => {
    const a = new pg.Client({ connectionString: hub.db.url });
    const b = new pg.Client({ connectionString: hub.db.url });
    await a.connect();
    await b.connect();
    const bPid = (await b.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    try {
      for (const firstCommits of [true, false]) {
        const key = `race-${randomUUID()}`;
        await a.query('BEGIN');
        await b.query('BEGIN');
        await rawInsert(a, key);
        // B's insert waits on A's uncommitted row: it is decided when A ends. Wait until B is
        // seen waiting for a lock in pg_locks, so that the race is the one intended.
        const second = rawInsert(b, key).then(
          () => 'inserted',
          (err: { code?: string }) => err.code,
        );
        for (let i = 0; ; i++) {
          const { rows } = await hub.pool.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted`, [bPid]);
          if (rows.length > 0) break;
          if (i > 3000) throw new Error('B never waited on A');
          await new Promise((r) => setTimeout(r, 5));
        }
        await a.query(firstCommits ? 'COMMIT' : 'ROLLBACK');
        const outcome = await second;
        await b.query(outcome === 'inserted' ? 'COMMIT' : 'ROLLBACK');
        assert.equal(outcome, firstCommits ? '23505' : 'inserted');
        const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM instances WHERE singleton_key = $1 AND ${ACTIVE}`, [key]);
        assert.equal(rows[0].n, 1);
      }
    } finally {
      await a.end();
      await b.end();
    }
  });

  it('100 concurrent starts: one instance, 99 conflicts naming it', async () => {
    const results = await Promise.allSettled(Array.from({ length: 100 }, () => hub.client.start({ name: 'PerTenant', input: '{"tenant":"acme"}' })));
    const created = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(created.length, 1);
    const winner = (created[0] as PromiseFulfilledResult<{ kind: string; instanceId: string }>).value.instanceId;
    assert.equal(rejected.length, 99);
    for (const r of rejected) {
      assert.ok(r.reason instanceof EngineError);
      assert.equal(r.reason.code, 'SINGLETON_ACTIVE');
      assert.equal(r.reason.details.instanceId, winner);
    }
    // Another tenant is another key.
    const other = await hub.client.start({ name: 'PerTenant', input: '{"tenant":"globex"}' });
    assert.equal(other.kind, 'created');
  });

  it('useExisting returns the active instance; terminateExisting replaces it atomically', async () => {
    const first = await hub.client.start({ name: 'PerTenant', input: '{"tenant":"initech"}' });
    assert.equal(first.kind, 'created');
    const firstId = first.kind === 'created' ? first.instanceId : '';
    const same = await Promise.all(
      Array.from({ length: 20 }, () => hub.client.start({ name: 'PerTenant', input: '{"tenant":"initech"}', onConflict: 'useExisting' })),
    );
    assert.ok(same.every((s) => s.kind === 'existing' && s.instance.instanceId === firstId));

    const replaced = await hub.client.start({ name: 'PerTenant', input: '{"tenant":"initech"}', onConflict: 'terminateExisting' });
    assert.equal(replaced.kind, 'created');
    const old = await hub.client.get(firstId);
    assert.equal(old?.runtimeStatus, 'Terminated');
    const { rows } = await hub.pool.query(`SELECT instance_id FROM instances WHERE name = 'PerTenant' AND input = '{"tenant":"initech"}' AND ${ACTIVE}`);
    assert.deepEqual(
      rows.map((r) => r.instance_id),
      [replaced.kind === 'created' ? replaced.instanceId : ''],
    );
  });

  it('an explicit id that is active conflicts; a terminal one is replaced with a fresh history', async () => {
    const id = `explicit-${randomUUID()}`;
    await hub.client.start({ name: 'Approval', instanceId: id, input: '{"timeoutSeconds":60}' });
    await assert.rejects(hub.client.start({ name: 'Approval', instanceId: id, input: '{"timeoutSeconds":60}' }), (err: EngineError) => {
      assert.equal(err.code, 'INSTANCE_EXISTS');
      assert.match(err.message, /An Orchestration instance with the status (Pending|Running) already exists\./);
      return true;
    });
    await hub.client.terminate(id, 'done');
    const again = await hub.client.start({ name: 'HelloSequence', instanceId: id, input: undefined });
    assert.equal(again.kind, 'created');
    const row = await waitForInstance(hub, id);
    assert.equal(row.name, 'HelloSequence');
    const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM history WHERE instance_id = $1 AND event_type = 'ExecutionTerminated'`, [id]);
    assert.equal(rows[0].n, 0, 'the old execution history is gone');
  });

  it('a completing instance racing new starts never yields two active instances', async () => {
    let stop = false;
    let maxActive = 0;
    const monitor = (async () => {
      while (!stop) {
        const { rows } = await hub.pool.query(`SELECT count(*)::int AS n FROM instances WHERE singleton_key = 'QuickSingleton' AND ${ACTIVE}`);
        maxActive = Math.max(maxActive, rows[0].n);
      }
    })();
    let created = 0;
    let conflicts = 0;
    const deadline = Date.now() + 4000;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (Date.now() < deadline) {
          try {
            await hub.client.start({ name: 'QuickSingleton', input: undefined });
            created++;
          } catch (err) {
            assert.equal((err as EngineError).code, 'SINGLETON_ACTIVE');
            conflicts++;
          }
        }
      }),
    );
    stop = true;
    await monitor;
    assert.ok(created > 3, `several runs completed and were replaced (${created})`);
    assert.ok(conflicts > 0);
    assert.ok(maxActive <= 1, `never two active (saw ${maxActive})`);
    // Runs never overlapped in time: each started after the previous one ended.
    const { rows } = await hub.pool.query<{ created_at: Date; completed_at: Date | null }>(
      `SELECT created_at, completed_at FROM instances WHERE name = 'QuickSingleton' ORDER BY created_at`,
    );
    for (let i = 1; i < rows.length; i++) {
      const prev = rows[i - 1]?.completed_at;
      assert.ok(prev !== null && prev !== undefined && prev <= (rows[i]?.created_at as Date), `run ${i} started before run ${i - 1} ended`);
    }
  });
});

describe('DataIngest, the seed scenario', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(async () => {
    await hub?.close();
  });

  const itemCount = async (): Promise<number> => (await hub.pool.query('SELECT count(*)::int AS n FROM ingest_items')).rows[0].n;

  it('loads 3,000 sources exactly once, and a second run adds nothing', async () => {
    const first = await hub.client.start({ name: 'DataIngest', input: '{"sources":3000}' });
    assert.equal(first.kind, 'created');
    const id = first.kind === 'created' ? first.instanceId : '';
    await assert.rejects(hub.client.start({ name: 'DataIngest', input: '{"sources":3000}' }), (err: EngineError) => err.code === 'SINGLETON_ACTIVE');
    const t0 = Date.now();
    const row = await waitForInstance(hub, id, undefined, 240_000);
    process.stdout.write(`# DataIngest 3000 sources: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    assert.equal(row.runtimeStatus, 'Completed', row.output ?? '');
    assert.deepEqual(JSON.parse(row.output as string), { loaded: 3000 });
    assert.equal(await itemCount(), 3000);

    const second = await hub.client.start({ name: 'DataIngest', input: '{"sources":3000}' });
    const row2 = await waitForInstance(hub, second.kind === 'created' ? second.instanceId : '', undefined, 240_000);
    assert.equal(row2.runtimeStatus, 'Completed');
    assert.equal(await itemCount(), 3000);
  });

  it('terminated mid-run, a new start finishes the job', async () => {
    await hub.pool.query('TRUNCATE ingest_items');
    const first = await hub.client.start({ name: 'DataIngest', input: '{"sources":2000}' });
    const id = first.kind === 'created' ? first.instanceId : '';
    for (let i = 0; i < 400 && (await itemCount()) < 200; i++) await new Promise((r) => setTimeout(r, 25));
    await hub.client.terminate(id, 'stopped mid-run');
    const partial = await itemCount();
    assert.ok(partial < 2000, `terminated mid-run (${partial} loaded)`);
    const again = await hub.client.start({ name: 'DataIngest', input: '{"sources":2000}' });
    const row = await waitForInstance(hub, again.kind === 'created' ? again.instanceId : '', undefined, 240_000);
    assert.deepEqual(JSON.parse(row.output as string), { loaded: 2000 });
    assert.equal(await itemCount(), 2000);
  });
});

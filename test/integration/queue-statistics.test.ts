/**
 * The activity queue's statistics after a burst (activities/queue-statistics.ts): a fresh queue
 * table that received a large fan-out is analyzed after the commit, so pg-boss's fetch reads the
 * first jobs off its partial index instead of sorting every queued job; a small enqueue is left
 * to autovacuum.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { ACTIVITY_QUEUE, ensureActivityQueue, PgBossActivityQueue } from '../../src/activities/queue.ts';
import { QueueStatistics } from '../../src/activities/queue-statistics.ts';
import { createPool, withTransaction } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import type { ActivityJob } from '../../src/orchestrator/ports.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

const log = createLogger('warn');
const SCHEMA = 'stats_boss';

function jobs(count: number): ActivityJob[] {
  return Array.from({ length: count }, (_, taskId) => ({ id: randomUUID(), data: { instanceId: 'i', executionId: randomUUID(), taskId, name: 'A' } }));
}

describe('activity queue statistics', () => {
  let db: TestDatabase;
  let boss: PgBoss;
  let pool: pg.Pool;
  let table: string;

  before(async () => {
    db = await createTestDatabase();
    // No supervision: nothing but the test touches the queue (and autovacuum, which SKIP_LOCKED tolerates).
    boss = new PgBoss({ connectionString: db.url, schema: SCHEMA, schedule: false, supervise: false });
    await boss.start();
    await ensureActivityQueue(boss, { heartbeatSeconds: 30, expireSeconds: 60, poisonAttempts: 5 });
    table = (await boss.getQueue(ACTIVITY_QUEUE))?.table ?? 'job';
    pool = createPool({ connectionString: db.url, max: 2, schema: 'public', connectionTimeoutMs: 5000, statementTimeoutMs: 30_000, idleInTransactionTimeoutMs: 30_000 }, log);
    // Only this process analyzes the table here: the counts below are its own.
    await pool.query(`ALTER TABLE ${SCHEMA}.${table} SET (autovacuum_enabled = false)`);
  });

  after(async () => {
    await pool?.end();
    await boss?.stop({ graceful: false, close: true });
    await db?.drop();
  });

  const reltuples = async (): Promise<number> =>
    Number((await pool.query<{ n: number }>(`SELECT reltuples AS n FROM pg_class WHERE oid = $1::regclass`, [`${SCHEMA}.${table}`])).rows[0]?.n);

  const fetchPlan = async (): Promise<string> => {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT j.id FROM ${SCHEMA}.${table} j WHERE j.name = $1 AND j.state < 'active' AND NOT j.blocked AND j.start_after <= now()
       ORDER BY j.priority DESC, j.created_on LIMIT 50 FOR UPDATE OF j SKIP LOCKED`,
      [ACTIVITY_QUEUE],
    );
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  };

  const analyzed = async (): Promise<number> =>
    Number((await pool.query<{ n: string }>(`SELECT analyze_count AS n FROM pg_stat_user_tables WHERE relid = $1::regclass`, [`${SCHEMA}.${table}`])).rows[0]?.n ?? 0);

  const statistics = (options: { afterJobs: number; minIntervalMs: number }): { stats: QueueStatistics; queue: PgBossActivityQueue | ReturnType<QueueStatistics['counting']> } => {
    const stats = new QueueStatistics(pool, ACTIVITY_QUEUE, async () => ({ schema: SCHEMA, table }), log, options);
    return { stats, queue: stats.counting(new PgBossActivityQueue(boss, SCHEMA)) };
  };

  it('leaves a small enqueue alone, and analyzes the table once a burst of jobs is committed', async () => {
    const small = statistics({ afterJobs: 1000, minIntervalMs: 0 });
    await withTransaction(pool, (client) => small.queue.enqueue(client, jobs(10)));
    small.stats.committed();
    await small.stats.close();
    assert.equal(await analyzed(), 0, 'ten jobs do not call for an ANALYZE');

    const burst = statistics({ afterJobs: 1000, minIntervalMs: 0 });
    await withTransaction(pool, (client) => burst.queue.enqueue(client, jobs(5000)));
    burst.stats.committed();
    await burst.stats.close();
    assert.equal(await analyzed(), 1);
    assert.ok((await reltuples()) >= 4000, `the burst is in the statistics (reltuples ${await reltuples()})`);
    const plan = await fetchPlan();
    assert.doesNotMatch(plan, /Sort/, `the fetch reads the index in order instead of sorting the queue:\n${plan}`);
  });

  it('does not analyze again for jobs the statistics already account for', async () => {
    const before = await analyzed();
    const more = statistics({ afterJobs: 1000, minIntervalMs: 0 });
    // 5,010 queued and known; 1,000 more do not double the queue.
    await withTransaction(pool, (client) => more.queue.enqueue(client, jobs(1000)));
    more.stats.committed();
    await more.stats.close();
    assert.equal(await analyzed(), before);
  });

  it("analyzes at most once per interval, and a burst within it at the interval's end", async () => {
    // The queue drains (its jobs completed) and the statistics know it: the planner's picture of a table of
    // completed jobs, the one in which a burst is sorted whole at each fetch.
    const drain = (): Promise<unknown> => pool.query(`UPDATE ${SCHEMA}.${table} SET state = 'completed', completed_on = now() WHERE state < 'active'`);
    await drain();
    await pool.query(`ANALYZE ${SCHEMA}.${table}`);
    const base = await analyzed();
    const { stats, queue } = statistics({ afterJobs: 1000, minIntervalMs: 500 });
    await withTransaction(pool, (client) => queue.enqueue(client, jobs(2000)));
    stats.committed();
    const settle = async (expected: number): Promise<number> => {
      const deadline = Date.now() + 10_000;
      let n = await analyzed();
      while (n < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        n = await analyzed();
      }
      return n;
    };
    const first = await settle(base + 1);
    // Within the interval: the 2,000 are done (not yet in the statistics) and a larger burst comes.
    await drain();
    await withTransaction(pool, (client) => queue.enqueue(client, jobs(10_000)));
    stats.committed();
    stats.committed();
    const second = await settle(base + 2);
    await new Promise((r) => setTimeout(r, 700));
    const settled = await analyzed();
    await stats.close();
    assert.deepEqual([first, second, settled], [base + 1, base + 2, base + 2], "one ANALYZE at once, one at the interval's end, no more");
    const plan = await fetchPlan();
    assert.doesNotMatch(plan, /Sort/, `the fetch reads the index in order:\n${plan}`);
  });
});

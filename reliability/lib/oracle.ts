/**
 * The oracle: activities of the reliability workload log every execution (not every result) to
 * `public.reliability_log` in the scenario's database. The table belongs to the oracle (created
 * here, not by a service migration). Comparing it with history tells executions (at least once,
 * so possibly several per task) from recorded results (exactly once).
 *
 * Logging must survive the faults under test (a restarted or killed database connection): an
 * insert is retried until it lands, keyed by a per-execution id so that a retry of an insert that
 * did commit is not counted twice.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const ORACLE_APP = 'reliability-oracle';
export const ORACLE_TABLE = 'public.reliability_log';

const CREATE = `
  CREATE TABLE IF NOT EXISTS ${ORACLE_TABLE} (
    exec_id      uuid        PRIMARY KEY,
    instance_id  text        NOT NULL,
    execution_id text        NOT NULL,
    task_id      integer     NOT NULL,
    activity     text        NOT NULL,
    attempt      integer     NOT NULL,
    pid          integer     NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX IF NOT EXISTS reliability_log_task ON ${ORACLE_TABLE} (instance_id, execution_id, task_id)`;

/**
 * Creates the log table (idempotent). Concurrent creators (every worker process checks on its first
 * execution) are serialised by an advisory lock, taken and released on one session.
 */
export async function installOracle(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(`SELECT pg_advisory_lock(7707)`);
    await client.query(CREATE);
    await client.query(`SELECT pg_advisory_unlock(7707)`);
  } catch (err) {
    broken = true; // never hand back a session that may still hold the lock
    throw err;
  } finally {
    client.release(broken);
  }
}

export interface Execution {
  instanceId: string;
  executionId: string;
  taskId: number;
  activity: string;
  attempt: number;
}

const INSERT = `INSERT INTO ${ORACLE_TABLE} (exec_id, instance_id, execution_id, task_id, activity, attempt, pid)
  VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (exec_id) DO NOTHING`;

export class OracleLog {
  private readonly pool: pg.Pool;
  private installed: Promise<void> | undefined;

  constructor(url: string) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: 8,
      application_name: ORACLE_APP,
      connectionTimeoutMillis: 5000,
      options: '-c statement_timeout=10000',
    });
    this.pool.on('error', () => undefined); // a lost idle connection: the next insert reconnects
  }

  /** Records one execution; retries through outages for up to `patienceMs`, then throws. */
  async record(execution: Execution, patienceMs = 180_000): Promise<void> {
    const execId = randomUUID();
    const deadline = Date.now() + patienceMs;
    for (let attempt = 0; ; attempt++) {
      try {
        this.installed ??= installOracle(this.pool).catch((err) => {
          this.installed = undefined;
          throw err;
        });
        await this.installed;
        await this.pool.query(INSERT, [
          execId,
          execution.instanceId,
          execution.executionId,
          execution.taskId,
          execution.activity,
          execution.attempt,
          process.pid,
        ]);
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

export interface OracleFigures {
  /** Executions logged. */
  executions: number;
  /** Distinct scheduled tasks that ran at least once. */
  tasks: number;
  /** Tasks that ran more than once (redeliveries after a crash, expiry or lost connection). */
  reexecutedTasks: number;
  /** The most executions of one task. */
  maxExecutionsPerTask: number;
}

export async function oracleFigures(db: Pick<pg.Pool, 'query'>, instanceIds?: readonly string[]): Promise<OracleFigures> {
  const filter = instanceIds ? 'WHERE instance_id = ANY($1::text[])' : '';
  const { rows } = await db.query<{ executions: number; tasks: number; again: number; max: number | null }>(
    `SELECT coalesce(sum(n), 0)::int AS executions, count(*)::int AS tasks, count(*) FILTER (WHERE n > 1)::int AS again, max(n)::int AS max
     FROM (SELECT count(*) AS n FROM ${ORACLE_TABLE} ${filter} GROUP BY instance_id, execution_id, task_id) t`,
    instanceIds ? [instanceIds] : [],
  );
  const r = rows[0];
  return { executions: r?.executions ?? 0, tasks: r?.tasks ?? 0, reexecutedTasks: r?.again ?? 0, maxExecutionsPerTask: r?.max ?? 0 };
}

/**
 * What every scenario does around its fault: a fresh database with the oracle's table, a cluster of
 * server processes on it, waiting for the work to end, and the closing invariant check that fills
 * the duplicates/losses figures.
 */
import { activeCount, createScenarioDatabase, type ScenarioDatabase, statusCounts } from './db.ts';
import { type Acks, checkInvariants, INVARIANT_NAMES, resultCounts } from './invariants.ts';
import { installOracle, oracleFigures } from './oracle.ts';
import { Cluster, sleep } from './procs.ts';
import type { Recorder } from './report.ts';

/** Settings every scenario's processes share unless it overrides them. */
export const BASE_ENV: Record<string, string> = {
  // Faster crash recovery than the defaults (30 s lease), so scenarios stay short; reported.
  TASKHUB_TURN_LEASE_SECONDS: '5',
  TASKHUB_POLL_INTERVAL_MS: '250',
};

/** The topology most scenarios run: one API process and two workers. */
export const API_AND_TWO_WORKERS = [
  { name: 'api', role: 'api' },
  { name: 'worker-a', role: 'worker' },
  { name: 'worker-b', role: 'worker' },
] as const;

export interface Setup {
  db: ScenarioDatabase;
  cluster: Cluster;
  cleanup(): Promise<void>;
}

export async function setup(id: string, env: Record<string, string> = {}): Promise<Setup> {
  const db = await createScenarioDatabase(id);
  try {
    await installOracle(db.pool);
  } catch (err) {
    await db.drop();
    throw err;
  }
  const cluster = new Cluster(db.url, { ...BASE_ENV, ...env });
  return {
    db,
    cluster,
    cleanup: async () => {
      await cluster.stopAll();
      await db.drop();
    },
  };
}

/** Waits until no instance is active; returns the seconds it took, or throws with what is left. */
export async function waitAllEnded(db: ScenarioDatabase, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const active = await activeCount(db.pool).catch(() => -1);
    if (active === 0) return (Date.now() - started) / 1000;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${active} instances still active after ${Math.round(timeoutMs / 1000)} s: ${JSON.stringify(await statusCounts(db.pool))}`);
    }
    await sleep(200);
  }
}

/**
 * The closing check: invariants over the whole database, oracle against history for `instanceIds`
 * (all when omitted). Fills duplicatesFound/lossesFound and the activity figures.
 */
export async function closingChecks(
  r: Recorder,
  db: ScenarioDatabase,
  acks: Acks = {},
  options: { instanceIds?: string[]; waitingOnEventsIsStuck?: boolean } = {},
): Promise<void> {
  const report = await checkInvariants(db.pool, acks, options);
  r.invariants = report;
  const ids = options.instanceIds ?? (await db.pool.query<{ id: string }>('SELECT instance_id AS id FROM taskhub.instances')).rows.map((x) => x.id);
  const results = await resultCounts(db.pool, ids);
  const oracle = await oracleFigures(db.pool, ids);
  r.figures.instances = report.instances;
  r.figures.activities = results.scheduled;
  r.figures.duplicatesFound = report.violations.duplicates ?? 0;
  r.figures.lossesFound =
    (report.violations.missing ?? 0) + (report.violations.lostStarts ?? 0) + (report.violations.lostEvents ?? 0) + (report.violations.stuck ?? 0);
  r.extra('activity executions (oracle)', oracle.executions);
  r.extra('tasks executed more than once (oracle)', oracle.reexecutedTasks);
  r.extra('results recorded in history', results.results);
  const unexecuted = await resultsWithoutExecution(db, ids);
  r.check('every recorded result comes from a logged execution (oracle)', unexecuted === 0, `${unexecuted} results without an execution`);
  const phantom = await executionsNeverScheduled(db, ids);
  r.check('every executed activity was scheduled in history (no job outlives a refused turn)', phantom.length === 0, phantom.length ? `${phantom.length} executions, e.g. ${JSON.stringify(phantom.slice(0, 2))}` : '');
  for (const [name, n] of Object.entries(report.violations)) {
    r.check(`invariant: ${INVARIANT_NAMES[name] ?? name}`, n === 0, n === 0 ? '' : `${n} violations, e.g. ${JSON.stringify(report.examples[name]?.slice(0, 2))}`);
  }
}

/** Results in history for which the oracle logged no execution (a result from nowhere). */
async function resultsWithoutExecution(db: ScenarioDatabase, ids: string[]): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT DISTINCT instance_id, execution_id::text AS execution_id, (event->>'taskId')::int AS task FROM taskhub.history
       WHERE event_type IN ('TaskCompleted', 'TaskFailed') AND instance_id = ANY($1::text[])) h
     WHERE NOT EXISTS (SELECT 1 FROM public.reliability_log l
                       WHERE l.instance_id = h.instance_id AND l.execution_id = h.execution_id AND l.task_id = h.task)`,
    [ids],
  );
  return rows[0]?.n ?? 0;
}

/** Oracle executions (of an instance's current execution) whose task history never scheduled. */
async function executionsNeverScheduled(db: ScenarioDatabase, ids: string[]): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.pool.query(
    `SELECT l.instance_id, l.task_id, l.activity, i.runtime_status FROM public.reliability_log l
     JOIN taskhub.instances i ON i.instance_id = l.instance_id AND i.execution_id::text = l.execution_id
     WHERE l.instance_id = ANY($1::text[]) AND NOT EXISTS (
       SELECT 1 FROM taskhub.history h WHERE h.instance_id = l.instance_id AND h.execution_id = i.execution_id
         AND h.event_type = 'TaskScheduled' AND (h.event->>'taskId')::int = l.task_id)`,
    [ids],
  );
  return rows as Array<Record<string, unknown>>;
}

/** Waits until these instances are terminal. */
export async function waitEnded(db: ScenarioDatabase, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM taskhub.instances WHERE instance_id = ANY($1::text[]) AND runtime_status IN ('Completed', 'Failed', 'Terminated', 'Canceled')`,
      [ids],
    );
    if ((rows[0]?.n ?? 0) === ids.length) return;
    if (Date.now() > deadline) throw new Error(`only ${rows[0]?.n ?? 0} of ${ids.length} instances ended in ${Math.round(timeoutMs / 1000)} s`);
    await sleep(100);
  }
}

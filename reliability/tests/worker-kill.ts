/**
 * Scenario 1: worker processes killed with SIGKILL three times during a large fan-out. Two worker
 * processes run the activities and turns; at 20 %, 45 % and 70 % of the results one of them is
 * killed (activities in flight, maybe a turn half-done) and a replacement started, as a supervisor
 * would. The fan-out completes with the right sum; each result is recorded once in history (the
 * oracle shows the re-executions); recovery per kill = from the kill until every activity job that
 * was running at that moment has settled (the dead worker's are redelivered after the heartbeat).
 */
import { closingChecks, setup, waitAllEnded, API_AND_TWO_WORKERS } from '../lib/harness.ts';
import { Api, json } from '../lib/http.ts';
import { oracleFigures } from '../lib/oracle.ts';
import { type ServerNode, sleep, waitFor } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';
import { sumOfSquares } from '../lib/workload.ts';

export const id = 'worker-kill';
export const title = 'Worker SIGKILL ×3 during a fan-out';

const KILL_AT = [0.2, 0.45, 0.7];

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const count = options.mode === 'full' ? 5000 : options.mode === 'quick' ? 1000 : 300;
  const ms = options.mode === 'full' ? 200 : 100;
  r.fault = `SIGKILL of a worker process at ${KILL_AT.map((x) => `${x * 100} %`).join(', ')} of the results, a replacement started each time (TASKHUB_TURN_LEASE_SECONDS=5, heartbeat 10 s)`;
  // At test size the fan-out is small enough for each worker to run its share at once and be idle
  // at a kill; 10 activities at a time per worker keep both busy until the queue drains.
  const env: Record<string, string> = options.mode === 'test' ? { TASKHUB_ACTIVITY_CONCURRENCY: '10', TASKHUB_ACTIVITY_BATCH_SIZE: '5' } : {};
  r.load = `one RelFanOut of ${count} activities (${ms} ms each); 1 api + 2 worker processes${options.mode === 'test' ? ' running 10 activities at a time each' : ''}`;
  const s = await setup(id, env);
  return runScenario(
    r,
    async () => {
      const [apiNode] = await s.cluster.startAll([...API_AND_TWO_WORKERS]);
      const workers: ServerNode[] = s.cluster.nodes.filter((n) => n.role === 'worker');
      const killed = new Set<ServerNode>();
      const api = new Api(apiNode!.url);
      const started = Date.now();
      const reply = await api.start('RelFanOut', { count, ms });
      const instanceId = json<{ id: string }>(reply)?.id;
      if (reply.status !== 202 || !instanceId) throw new Error(`start: ${reply.status} ${reply.text}`);

      const results = async (): Promise<number> =>
        Number(
          (
            await s.db.pool.query<{ n: string }>(
              `SELECT (SELECT count(*) FROM taskhub.history WHERE instance_id = $1 AND event_type = 'TaskCompleted')
                    + (SELECT count(*) FROM taskhub.inbox WHERE instance_id = $1 AND event_type = 'TaskCompleted') AS n`,
              [instanceId],
            )
          ).rows[0]?.n ?? 0,
        );
      const recoveries: Promise<number>[] = [];
      for (const [k, fraction] of KILL_AT.entries()) {
        await waitFor(`${fraction * 100} % of the results`, async () => (await results()) >= fraction * count, 300_000, 50);
        const victim = workers[k % 2] as ServerNode;
        const { rows } = await s.db.pool.query<{ id: string }>(`SELECT id FROM taskhub_boss.job WHERE name = 'taskhub.activities' AND state = 'active'`);
        const inFlight = rows.map((x) => x.id);
        const at = Date.now();
        await victim.kill('SIGKILL');
        killed.add(victim);
        r.note(`kill ${k + 1}: ${victim.name} (pid ${victim.pid}) at ${await results()} of ${count} results, ${inFlight.length} activity jobs running`);
        const replacement = await s.cluster.start({ name: `${victim.name}-${k + 2}`, role: 'worker' });
        workers[k % 2] = replacement;
        // Recovery: every job that was running at the kill has settled (completed).
        recoveries.push(
          (async () => {
            for (;;) {
              const { rows: open } = await s.db.pool.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM taskhub_boss.job WHERE id = ANY($1::uuid[]) AND state IN ('created', 'retry', 'active')`,
                [inFlight],
              );
              if ((open[0]?.n ?? 0) === 0) return (Date.now() - at) / 1000;
              if (Date.now() - at > 300_000) return Number.NaN;
              await sleep(250);
            }
          })(),
        );
      }
      await waitAllEnded(s.db, options.mode === 'full' ? 600_000 : 300_000);
      const total = (Date.now() - started) / 1000;
      const recovery = await Promise.all(recoveries);
      r.figures.faultsInjected = KILL_AT.length;
      r.figures.recoverySeconds = round(Math.max(...recovery));
      r.extra('recovery per kill (s)', recovery.map((x) => round(x)).join(', '));
      r.extra('fan-out start to completion (s)', round(total));

      const row = (await s.db.pool.query<{ runtime_status: string; output: string | null }>(`SELECT runtime_status, output FROM taskhub.instances WHERE instance_id = $1`, [instanceId])).rows[0];
      r.check('the fan-out completed with the right sum', row?.runtime_status === 'Completed' && Number(row.output) === sumOfSquares(count), `${row?.runtime_status}: ${row?.output} (expected ${sumOfSquares(count)})`);
      const oracle = await oracleFigures(s.db.pool, [instanceId]);
      r.check('the kills hit running activities (the oracle shows re-executions)', oracle.reexecutedTasks > 0, `${oracle.reexecutedTasks} tasks ran more than once`);
      r.check('every task ran (oracle)', oracle.tasks === count, `${oracle.tasks}/${count}`);
      r.check('recovery after each kill within 60 s', recovery.every((x) => x < 60), recovery.map((x) => round(x)).join(', '));
      r.check('no process other than the killed ones died', s.cluster.unexpectedExits(killed).length === 0, s.cluster.unexpectedExits(killed).join(', '));
      await closingChecks(r, s.db, { starts: [instanceId] });
    },
    s.cleanup,
  );
}

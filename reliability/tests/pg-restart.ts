/**
 * Scenario 3: PostgreSQL stopped and started again (same data, same port) while orchestrations with
 * durable timers and external events are in flight. The database is an embedded PostgreSQL of this
 * scenario's own, in a temp folder. Each instance waits on a timer (2–15 s), runs a 1-s activity
 * (some are running when the database stops, and must record their results after it is back), then
 * waits for two events: the first is raised before the outage, the second during it (retried until
 * acknowledged) or after it. The server processes stay up and reconnect by themselves; every
 * instance ends Completed with exactly its two acknowledged events.
 */
import { randomBytes } from 'node:crypto';
import { harnessPool, type ScenarioDatabase } from '../lib/db.ts';
import { RestartablePostgres } from '../lib/faults.ts';
import { BASE_ENV, closingChecks } from '../lib/harness.ts';
import { Api, json, pool, send } from '../lib/http.ts';
import type { AckedEvent } from '../lib/invariants.ts';
import { installOracle } from '../lib/oracle.ts';
import { Cluster, sleep, waitFor } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'pg-restart';
export const title = 'PostgreSQL restarted under in-flight timers and events';

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const n = options.mode === 'test' ? 60 : 200;
  const downMs = options.mode === 'full' ? 20_000 : options.mode === 'quick' ? 8000 : 4000;
  r.fault = `PostgreSQL stopped (fast shutdown: sessions get 57P01) and kept down ${downMs / 1000} s, then started on the same data folder and port`;
  r.load = `${n} RelTimerEvent instances (timer 2–15 s, one 1-s activity, two events each); events raised before, during (retried) and after the outage; 1 api + 1 worker process`;
  const pg = new RestartablePostgres();
  let db: ScenarioDatabase | undefined;
  let cluster: Cluster | undefined;
  return runScenario(
    r,
    async () => {
      await pg.start();
      const poolDb = harnessPool(pg.connectionString);
      db = { url: pg.connectionString, name: 'postgres', pool: poolDb, drop: async () => void (await poolDb.end().catch(() => undefined)) };
      await installOracle(db.pool);
      cluster = new Cluster(pg.connectionString, BASE_ENV);
      const [apiNode] = await cluster.startAll([
        { name: 'api', role: 'api' },
        { name: 'worker', role: 'worker' },
      ]);
      const api = new Api(apiNode!.url);
      const events: AckedEvent[] = [];
      /** Raises until acknowledged (a 503 or no answer during the outage is retried). */
      const raise = async (instanceId: string, payload: string): Promise<number> => {
        for (let attempt = 1; ; attempt++) {
          const reply = await api.raise(instanceId, 'Go', payload);
          if (reply.status === 202) {
            events.push({ instanceId, name: 'Go', payload });
            return attempt;
          }
          if (reply.status !== 0 && reply.status < 500) throw new Error(`raise answered ${reply.status}: ${reply.text}`);
          if (attempt > 600) throw new Error(`raise never acknowledged: ${reply.status} ${reply.text}`);
          await sleep(250);
        }
      };

      const ids = await pool(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
        const reply = await api.start('RelTimerEvent', { timerMs: 2000 + ((i * 65) % 13_000), events: 2, workMs: 1000 });
        const body = json<{ id: string }>(reply);
        if (reply.status !== 202 || !body) throw new Error(`start: ${reply.status} ${reply.text}`);
        return body.id;
      });
      const first = new Map(ids.map((x) => [x, JSON.stringify(`first-${randomBytes(3).toString('hex')}`)]));
      const second = new Map(ids.map((x) => [x, JSON.stringify(`second-${randomBytes(3).toString('hex')}`)]));
      await pool(ids, 16, (x) => raise(x, first.get(x) as string));

      const fired = async (): Promise<number> =>
        Number((await db!.pool.query<{ n: string }>(`SELECT count(*) AS n FROM taskhub.history WHERE event_type = 'TimerFired'`)).rows[0]?.n ?? 0);
      await waitFor('a third of the timers to fire', async () => (await fired()) >= n / 3, 60_000, 100);
      const firedBefore = await fired();

      const stoppedAt = Date.now();
      await pg.stop();
      r.figures.faultsInjected = 1;
      // During the outage: half of the second events are attempted (and retried until acknowledged).
      const during = pool(ids.slice(0, n / 2), 8, (x) => raise(x, second.get(x) as string));
      let readyFailures = 0;
      const probe = (async () => {
        while (Date.now() - stoppedAt < downMs) {
          const ready = await send(`${apiNode!.url}/readyz`, { timeoutMs: 2000 });
          if (ready.status !== 200) readyFailures++;
          await sleep(500);
        }
      })();
      await sleep(downMs);
      await probe;
      const alive = cluster.nodes.filter((x) => x.running()).length;
      r.check('both processes stayed up through the outage', alive === 2, `${alive}/2 running`);
      r.check('/readyz reported the outage', readyFailures > 0, `${readyFailures} not-ready answers`);

      await pg.start();
      const startedAt = Date.now();
      await waitFor('/readyz after the restart', async () => (await send(`${apiNode!.url}/readyz`, { timeoutMs: 2000 })).status === 200, 120_000, 100);
      const readyAfter = (Date.now() - startedAt) / 1000;
      const turnAfter = await waitFor(
        'a turn committed after the restart',
        async () => {
          const { rows } = await db!.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM taskhub.history WHERE event_time > $1`, [new Date(startedAt)]).catch(() => ({ rows: [] as { n: number }[] }));
          return (rows[0]?.n ?? 0) > 0 ? (Date.now() - startedAt) / 1000 : undefined;
        },
        120_000,
        100,
      );
      const duringAttempts = await during;
      await pool(ids.slice(n / 2), 16, (x) => raise(x, second.get(x) as string));
      await waitFor(
        'every instance to end',
        async () => Number((await db!.pool.query<{ n: string }>(`SELECT count(*) AS n FROM taskhub.instances WHERE runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`)).rows[0]?.n ?? 1) === 0,
        240_000,
        250,
      );
      const allAfter = (Date.now() - startedAt) / 1000;
      r.figures.recoverySeconds = round(turnAfter);
      r.extra('timers fired before the outage', firedBefore);
      r.extra('/readyz OK after the restart (s)', round(readyAfter));
      r.extra('first turn committed after the restart (s)', round(turnAfter));
      r.extra('all instances ended after the restart (s)', round(allAfter));
      r.extra('raise attempts during the outage (retried until 202)', duringAttempts.reduce((a, b) => a + b, 0));

      const { rows } = await db.pool.query<{ instance_id: string; runtime_status: string; output: string | null }>(
        `SELECT instance_id, runtime_status, output FROM taskhub.instances`,
      );
      const wrong = rows.filter((x) => {
        if (x.runtime_status !== 'Completed' || x.output === null) return true;
        const out = JSON.parse(x.output) as { work: number; events: unknown[] };
        return out.work !== 9 || JSON.stringify(out.events) !== JSON.stringify([JSON.parse(first.get(x.instance_id) as string), JSON.parse(second.get(x.instance_id) as string)]);
      });
      r.check('every instance completed with its two acknowledged events, in order', wrong.length === 0 && rows.length === n, `${rows.length - wrong.length}/${n}; e.g. ${JSON.stringify(wrong[0])}`);
      r.check('no process died', cluster.unexpectedExits().length === 0, cluster.unexpectedExits().join(', '));
      const problems = cluster.nodes.flatMap((x) => x.problems(60).map((p) => `${x.name}: ${String(p.msg)}`));
      r.check('no fatal log line', problems.length === 0, problems.slice(0, 3).join('; '));
      await closingChecks(r, db, { starts: ids, events });
    },
    async () => {
      await cluster?.stopAll();
      await db?.drop();
      await pg.destroy();
    },
  );
}

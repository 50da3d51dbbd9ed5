/**
 * Scenario 5: an activity redelivered while its first attempt still runs. With
 * TASKHUB_ACTIVITY_EXPIRE_SECONDS=2 (and heartbeats at pg-boss's minimum of 10 s, so expiry comes
 * first), an activity whose first attempt sleeps 6 s is failed by pg-boss after 2 s and delivered
 * again to another worker loop; the second attempt finishes first. Its result must be recorded once:
 * the oracle shows ≥ 2 executions, history one result, and the first attempt's late result (arriving
 * while the instance still waits on a timer) is dropped.
 *
 * Two kinds of activity: one that ignores its abort signal, and one that honours it (stops when
 * pg-boss aborts the expired attempt). The second must not turn the abort into the task's result.
 */
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json } from '../lib/http.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'redelivery';
export const title = 'Activity redelivered while its first attempt still runs';

const FIRST_ATTEMPT_MS = 6000;
const HOLD_MS = 6000;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const perKind = options.mode === 'full' ? 10 : 3;
  const env = {
    TASKHUB_ACTIVITY_EXPIRE_SECONDS: '2',
    TASKHUB_ACTIVITY_HEARTBEAT_SECONDS: '10',
    // One job per batch and enough loops per process that a redelivered job finds a free one: pg-boss
    // holds back a loop whose handler overran its expiry until that handler returns.
    TASKHUB_ACTIVITY_BATCH_SIZE: '1',
    TASKHUB_ACTIVITY_CONCURRENCY: String(Math.max(4, perKind * 3)),
  };
  r.fault = `pg-boss expiry: TASKHUB_ACTIVITY_EXPIRE_SECONDS=2, heartbeat 10 s; the first attempt of each slow activity runs ${FIRST_ATTEMPT_MS / 1000} s, later attempts 0.3 s`;
  r.load = `${perKind} instances whose activity ignores its abort signal + ${perKind} whose activity honours it; 1 all-role + 1 worker process`;
  const s = await setup(id, env);
  return runScenario(
    r,
    async () => {
      const [api] = await s.cluster.startAll([
        { name: 'all-1', role: 'all' },
        { name: 'worker-1', role: 'worker' },
      ]);
      const client = new Api(api!.url);
      const kinds = { ignoresSignal: false, honoursSignal: true } as const;
      const ids: Record<keyof typeof kinds, string[]> = { ignoresSignal: [], honoursSignal: [] };
      for (const [kind, honourSignal] of Object.entries(kinds) as Array<[keyof typeof kinds, boolean]>) {
        for (let i = 0; i < perKind; i++) {
          const reply = await client.start('RelSlow', { ms: 300, firstAttemptMs: FIRST_ATTEMPT_MS, honourSignal, holdMs: HOLD_MS });
          const body = json<{ id: string }>(reply);
          if (reply.status !== 202 || !body) throw new Error(`start answered ${reply.status}: ${reply.text}`);
          ids[kind].push(body.id);
        }
      }
      const all = [...ids.ignoresSignal, ...ids.honoursSignal];
      await waitAllEnded(s.db, 90_000);

      // Executions of the slow activity, per instance, from the oracle.
      const { rows: runs } = await s.db.pool.query<{ instance_id: string; attempts: number[]; ats: Date[] }>(
        `SELECT instance_id, array_agg(attempt ORDER BY at) AS attempts, array_agg(at ORDER BY at) AS ats
         FROM public.reliability_log WHERE activity = 'RelSleep' AND instance_id = ANY($1::text[]) GROUP BY 1`,
        [all],
      );
      const byInstance = new Map(runs.map((x) => [x.instance_id, x]));
      const redelivered = all.filter((i) => (byInstance.get(i)?.attempts.length ?? 0) >= 2);
      const overlapping = all.filter((i) => {
        const x = byInstance.get(i);
        if (!x || x.ats.length < 2) return false;
        // The second attempt began before the first (which runs FIRST_ATTEMPT_MS) could have ended.
        return (x.ats[1] as Date).getTime() - (x.ats[0] as Date).getTime() < FIRST_ATTEMPT_MS;
      });
      const delays = all.flatMap((i) => {
        const x = byInstance.get(i);
        return x && x.ats.length >= 2 ? [((x.ats[1] as Date).getTime() - (x.ats[0] as Date).getTime()) / 1000] : [];
      });
      r.figures.faultsInjected = redelivered.length;
      r.figures.recoverySeconds = delays.length ? round(Math.max(...delays)) : null;
      r.extra('redelivery delay (first → second attempt), median s', delays.length ? round(delays.sort((a, b) => a - b)[Math.floor(delays.length / 2)] as number) : '–');
      r.check('every slow activity ran at least twice (oracle)', redelivered.length === all.length, `${redelivered.length}/${all.length}`);
      r.check('the second attempt overlapped the first', overlapping.length === all.length, `${overlapping.length}/${all.length}`);

      // History: one result per task, and what the orchestration got.
      const { rows: results } = await s.db.pool.query<{ instance_id: string; status: string; output: string; failures: string[] }>(
        `SELECT i.instance_id, i.runtime_status AS status, i.output,
           coalesce((SELECT array_agg(h.event->'failure'->>'message') FROM taskhub.history h
                     WHERE h.instance_id = i.instance_id AND h.event_type = 'TaskFailed'), '{}') AS failures
         FROM taskhub.instances i WHERE i.instance_id = ANY($1::text[])`,
        [all],
      );
      const status = new Map(results.map((x) => [x.instance_id, x]));
      for (const [kind, list] of Object.entries(ids)) {
        const completed = list.filter((i) => status.get(i)?.status === 'Completed');
        const wrong = list.filter((i) => status.get(i)?.status !== 'Completed').map((i) => status.get(i));
        r.check(
          `${kind}: every instance completed with the redelivered attempt's result`,
          completed.length === list.length,
          wrong.length
            ? `${completed.length}/${list.length} completed; e.g. ${wrong[0]?.status}: ${wrong[0]?.output?.slice(0, 200)}; recorded failures: ${JSON.stringify(wrong[0]?.failures)}`
            : `${completed.length}/${list.length}`,
        );
      }
      await closingChecks(r, s.db, { starts: all }, { instanceIds: all });
    },
    s.cleanup,
  );
}

/**
 * Scenario 13: activities that hang. Activities that never settle and ignore their abort signal (a
 * network call that hangs) hold three quarters of the worker's activity slots, while a fan-out of
 * normal activities runs on the same worker: the fan-out completes while the hung attempts still
 * hold their slots; then each hung attempt fails by its timeout (ActivityTimeout), is retried where
 * the orchestration's policy says so (same idempotency key, attempt 1) and fails its instance where
 * it does not; every abandoned attempt is logged; nothing is recorded twice or lost.
 */
import { count } from '../lib/db.ts';
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json, pool } from '../lib/http.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';
import { HANG_TIMEOUT_SECONDS, sumOfSquares } from '../lib/workload.ts';

export const id = 'hung-activity';
export const title = 'Activities that hang and ignore their signal hold slots, not the worker';

const SLOTS = 200;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const hung = options.mode === 'test' ? 100 : 150;
  const normal = options.mode === 'full' ? 2000 : 1000;
  r.fault = `${hung} of ${SLOTS} activity slots (TASKHUB_ACTIVITY_CONCURRENCY) held by RelHang attempts that never settle and ignore their signal; RelHang timeoutSeconds ${HANG_TIMEOUT_SECONDS}`;
  r.load = `${hung / 2} RelHangRetry (callActivityWithRetry, 3 attempts; attempt 1 answers) + ${hung / 2} RelHangNoRetry, then one RelFanOut of ${normal} activities; 1 all-role process`;
  const s = await setup(id, { TASKHUB_ACTIVITY_CONCURRENCY: String(SLOTS) });
  return runScenario(
    r,
    async () => {
      const node = await s.cluster.start({ name: 'all-1', role: 'all' });
      const api = new Api(node.url);
      const kinds = ['RelHangRetry', 'RelHangNoRetry'] as const;
      const ids: Record<(typeof kinds)[number], string[]> = { RelHangRetry: [], RelHangNoRetry: [] };
      const hungStarted = Date.now();
      await pool(Array.from({ length: hung }, (_, i) => kinds[i % 2] as (typeof kinds)[number]), 20, async (name) => {
        const body = json<{ id: string }>(await api.start(name, {}));
        if (!body) throw new Error(`could not start ${name}`);
        ids[name].push(body.id);
      });
      for (const deadline = Date.now() + 60_000; ; ) {
        const active = await count(s.db.pool, `SELECT count(*) AS n FROM taskhub_boss.job WHERE state = 'active' AND data->>'name' = 'RelHang'`);
        if (active >= hung) break;
        if (Date.now() > deadline) throw new Error(`only ${active} of ${hung} hung attempts started`);
        await sleep(50);
      }
      r.figures.faultsInjected = hung;

      const fanStarted = Date.now();
      const fan = json<{ id: string }>(await api.start('RelFanOut', { count: normal }));
      if (!fan) throw new Error('could not start the fan-out');
      for (;;) {
        const st = json<{ runtimeStatus: string; output: number }>(await api.status(fan.id));
        if (st && ['Completed', 'Failed', 'Terminated'].includes(st.runtimeStatus)) {
          r.check('the fan-out completed with the right sum', st.runtimeStatus === 'Completed' && st.output === sumOfSquares(normal), `${st.runtimeStatus}: ${st.output}`);
          break;
        }
        if (Date.now() - fanStarted > 120_000) throw new Error('the fan-out did not end within 120 s');
        await sleep(50);
      }
      const fanSeconds = (Date.now() - fanStarted) / 1000;
      r.extra(`fan-out of ${normal} with ${hung} slots hung: start to completion (s)`, round(fanSeconds, 2));
      const { rows: firstTimeout } = await s.db.pool.query<{ t: Date | null; done: Date | null }>(
        `SELECT (SELECT min(event_time) FROM taskhub.history WHERE event_type = 'TaskFailed' AND event->'failure'->>'type' = 'ActivityTimeout') AS t,
                (SELECT completed_at FROM taskhub.instances WHERE instance_id = $1) AS done`,
        [fan.id],
      );
      const { t: timeoutAt, done } = firstTimeout[0] ?? { t: null, done: null };
      r.check(
        'the fan-out completed while every hung attempt still held its slot (before the first timeout)',
        done !== null && (timeoutAt === null || done < timeoutAt),
        `completed ${done?.toISOString()}, first ActivityTimeout ${timeoutAt?.toISOString() ?? 'none yet'}`,
      );

      await waitAllEnded(s.db, 120_000);
      r.figures.recoverySeconds = round((Date.now() - hungStarted) / 1000 - HANG_TIMEOUT_SECONDS, 1);
      const { rows } = await s.db.pool.query<{ instance_id: string; name: string; runtime_status: string; output: string | null; failure: { type?: string; message?: string } | null }>(
        `SELECT instance_id, name, runtime_status, output, failure FROM taskhub.instances WHERE name IN ('RelHangRetry', 'RelHangNoRetry')`,
      );
      const retried = rows.filter((x) => x.name === 'RelHangRetry');
      const failed = rows.filter((x) => x.name === 'RelHangNoRetry');
      const recovered = retried.filter((x) => x.runtime_status === 'Completed' && (JSON.parse(x.output ?? 'null') as { attempt?: number } | null)?.attempt === 1);
      r.check('every retried call completed on its retry (attempt 1)', recovered.length === ids.RelHangRetry.length, `${recovered.length}/${ids.RelHangRetry.length}`);
      const { rows: timeouts } = await s.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM taskhub.history WHERE event_type = 'TaskFailed' AND event->'failure'->>'type' = 'ActivityTimeout'`,
      );
      r.extra('attempts failed by ActivityTimeout (history)', timeouts[0]?.n ?? 0);
      r.check('every hung attempt failed by ActivityTimeout, once', (timeouts[0]?.n ?? 0) === hung, `${timeouts[0]?.n}/${hung}`);
      const noRetryOk = failed.filter((x) => x.runtime_status === 'Failed' && /did not finish within \d+ s \(its timeoutSeconds option\)/.test(x.output ?? ''));
      r.check('every call without a retry policy failed its instance with the timeout', noRetryOk.length === ids.RelHangNoRetry.length, `${noRetryOk.length}/${ids.RelHangNoRetry.length}; e.g. ${failed[0]?.output?.slice(0, 160)}`);
      // The retry is the same logical call: one idempotency key, attempts 0 and 1.
      const { rows: oracle } = await s.db.pool.query<{ instance_id: string; attempts: number[] }>(
        `SELECT instance_id, array_agg(attempt ORDER BY at) AS attempts FROM public.reliability_log WHERE activity = 'RelHang' AND instance_id = ANY($1::text[]) GROUP BY 1`,
        [ids.RelHangRetry],
      );
      const counted = oracle.filter((x) => x.attempts.length === 2 && x.attempts[0] === 0 && x.attempts[1] === 1);
      r.check('each retried call ran twice, its attempt number counting the retry (0, then 1)', counted.length === ids.RelHangRetry.length, `${counted.length}/${ids.RelHangRetry.length}`);
      const sameKey = recovered.filter((x) => (JSON.parse(x.output ?? '{}') as { key?: string }).key?.endsWith(':0'));
      r.check('the retry saw the first attempt\'s idempotency key (task 0)', sameKey.length === recovered.length, `${sameKey.length}/${recovered.length}`);
      const logged = (node.output().match(/activity attempt abandoned \(it timed out\)/g) ?? []).length;
      r.extra('abandoned attempts logged', logged);
      r.check('every abandoned attempt was logged', logged === hung, `${logged}/${hung}`);
      r.check('the process stayed up', node.running(), '');
      await closingChecks(r, s.db);
    },
    s.cleanup,
  );
}

/**
 * Scenario 10: resource caps. A body over TASKHUB_BODY_LIMIT is a 413 that writes nothing; an
 * orchestration with more pending tasks than TASKHUB_MAX_PENDING_TASKS, or a history longer than
 * TASKHUB_MAX_HISTORY_EVENTS, fails with a reason naming the setting (and runs none of the work it
 * was refused); a start flood above TASKHUB_START_RATE_LIMIT gets 429s, not a crash and not 5xx.
 */
import { randomBytes } from 'node:crypto';
import { count } from '../lib/db.ts';
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json, pool, sendChunked } from '../lib/http.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'caps';
export const title = 'Resource caps: body size, pending tasks, history size, start rate';

const BODY_LIMIT = 1024;
const MAX_PENDING = 50;
const MAX_HISTORY = 100;
const RATE = 20;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const flood = options.mode === 'full' ? 600 : 300;
  r.fault = `TASKHUB_BODY_LIMIT=${BODY_LIMIT}, TASKHUB_MAX_PENDING_TASKS=${MAX_PENDING}, TASKHUB_MAX_HISTORY_EVENTS=${MAX_HISTORY}, TASKHUB_START_RATE_LIMIT=${RATE}/s`;
  r.load = `oversized bodies on start and raiseEvent; a ${MAX_PENDING + 10}-task fan-out; a ${MAX_HISTORY}-event-plus sequence; a flood of ${flood} starts at 30 concurrent requests; 1 all-role process`;
  const s = await setup(id, {
    TASKHUB_BODY_LIMIT: String(BODY_LIMIT),
    TASKHUB_MAX_PENDING_TASKS: String(MAX_PENDING),
    TASKHUB_MAX_HISTORY_EVENTS: String(MAX_HISTORY),
    TASKHUB_START_RATE_LIMIT: String(RATE),
  });
  return runScenario(
    r,
    async () => {
      const node = await s.cluster.start({ name: 'all-1', role: 'all' });
      const api = new Api(node.url);
      const rows = (): Promise<number> =>
        count(s.db.pool, `SELECT (SELECT count(*) FROM taskhub.instances) + (SELECT count(*) FROM taskhub.inbox) + (SELECT count(*) FROM taskhub.history) AS n`);

      // 413: start and raiseEvent bodies over the limit write nothing.
      const waiting = json<{ id: string }>(await api.start('RelTwoEvents'));
      if (!waiting) throw new Error('could not start RelTwoEvents');
      await sleep(500);
      const before = await rows();
      const big = JSON.stringify({ pad: 'x'.repeat(BODY_LIMIT * 4) });
      const bigStart = await api.start('RelSequence', JSON.parse(big), { instanceId: `big-${randomBytes(4).toString('hex')}` });
      const bigEvent = await api.raise(waiting.id, 'Go', big);
      const bigChunked = await sendChunked(`${api.base}/orchestrators/RelSequence`, Buffer.from(big), { 'content-type': 'application/json' });
      const after = await rows();
      const small = await api.start('RelSequence', { steps: 1, pad: 'x'.repeat(BODY_LIMIT - 100) });
      r.check('start with a body over the limit: 413', bigStart.status === 413, `${bigStart.status} ${bigStart.text.slice(0, 120)}`);
      r.check('raiseEvent with a body over the limit: 413', bigEvent.status === 413, `${bigEvent.status} ${bigEvent.text.slice(0, 120)}`);
      r.check('a chunked body over the limit: 413', bigChunked.status === 413, `${bigChunked.status}`);
      r.check('413s changed no rows', before === after, `${before} rows before, ${after} after`);
      r.check('a body under the limit is accepted', small.status === 202, `${small.status}`);
      await api.raise(waiting.id, 'Go', '1');
      await api.raise(waiting.id, 'Go', '2');

      // The pending-task and history caps.
      const fan = json<{ id: string }>(await api.start('RelFanOut', { count: MAX_PENDING + 10 }));
      const seq = json<{ id: string }>(await api.start('RelSequence', { steps: MAX_HISTORY }));
      if (!fan || !seq) throw new Error('could not start the cap instances');
      await waitAllEnded(s.db, 60_000);
      await sleep(3000); // jobs that were (wrongly) left queued by a refused turn run meanwhile
      const { rows: capped } = await s.db.pool.query<{ instance_id: string; runtime_status: string; failure: { type?: string; message?: string } | null; history_length: number }>(
        `SELECT instance_id, runtime_status, failure, history_length FROM taskhub.instances WHERE instance_id = ANY($1::text[])`,
        [[fan.id, seq.id]],
      );
      const f = capped.find((x) => x.instance_id === fan.id);
      const h = capped.find((x) => x.instance_id === seq.id);
      r.check(
        `a fan-out over ${MAX_PENDING} pending tasks fails naming TASKHUB_MAX_PENDING_TASKS`,
        f?.runtime_status === 'Failed' && f.failure?.type === 'PendingTasksLimitExceeded' && /TASKHUB_MAX_PENDING_TASKS/.test(f.failure.message ?? ''),
        `${f?.runtime_status}: ${f?.failure?.type}: ${f?.failure?.message}`,
      );
      r.check(
        `a history over ${MAX_HISTORY} events fails naming TASKHUB_MAX_HISTORY_EVENTS`,
        h?.runtime_status === 'Failed' && h.failure?.type === 'HistoryLimitExceeded' && /TASKHUB_MAX_HISTORY_EVENTS/.test(h.failure.message ?? ''),
        `${h?.runtime_status}: ${h?.failure?.type}: ${h?.failure?.message}`,
      );
      r.check(`the capped history stays within ${MAX_HISTORY} events (+ its closing event)`, (h?.history_length ?? 0) <= MAX_HISTORY + 1, `${h?.history_length} events`);
      const refusedRuns = await count(s.db.pool, `SELECT count(*) AS n FROM public.reliability_log WHERE instance_id = $1`, [fan.id]);
      r.check('none of the refused fan-out’s activities ran (its jobs are not left queued)', refusedRuns === 0, `${refusedRuns} of ${MAX_PENDING + 10} ran after the instance failed`);
      const openJobs = await count(
        s.db.pool,
        `SELECT count(*) AS n FROM taskhub_boss.job WHERE data->>'instanceId' = ANY($1::text[]) AND state IN ('created', 'retry', 'active')`,
        [[fan.id, seq.id]],
      );
      r.check('no activity job of a capped instance is left open', openJobs === 0, `${openJobs} open`);

      // The start flood.
      const ids = Array.from({ length: flood }, (_, i) => `flood-${i}-${randomBytes(3).toString('hex')}`);
      const started = Date.now();
      const replies = await pool(ids, 30, (instanceId) => api.start('RelSequence', { steps: 1 }, { instanceId }));
      const seconds = (Date.now() - started) / 1000;
      const by = (status: number): number => replies.filter((x) => x.status === status).length;
      const accepted = ids.filter((_, i) => replies[i]?.status === 202);
      const refused = ids.filter((_, i) => replies[i]?.status === 429);
      const fiveXX = replies.filter((x) => x.status >= 500 || x.status === 0).length;
      r.extra('flood: starts sent', flood);
      r.extra('flood: seconds', round(seconds));
      r.extra('flood: 202 / 429 / 5xx+network', `${by(202)} / ${by(429)} / ${fiveXX}`);
      r.check('flood: no 5xx and no dropped connection', fiveXX === 0, `${fiveXX}`);
      r.check('flood: the process is still up', node.running(), '');
      const existing = await count(s.db.pool, `SELECT count(*) AS n FROM taskhub.instances WHERE instance_id = ANY($1::text[])`, [refused]);
      r.check('flood: a 429 start created nothing', existing === 0, `${existing} of ${refused.length} exist`);
      const first429 = replies.find((x) => x.status === 429);
      const retryAfter = first429?.headers.get('retry-after');
      if (first429) {
        const body = json<{ Message?: string; code?: string }>(first429);
        r.check('flood: a 429 carries Retry-After and a {"Message"} body', !!retryAfter && typeof body?.Message === 'string', `Retry-After: ${retryAfter ?? 'none'}; ${first429.text.slice(0, 120)}`);
      }
      r.check(
        `flood: starts above ${RATE}/s get 429 (TASKHUB_START_RATE_LIMIT)`,
        refused.length > 0 && accepted.length <= RATE * (seconds + 2),
        refused.length > 0
          ? `${refused.length} of ${flood} refused in ${round(seconds)} s (${accepted.length} accepted; Retry-After: ${retryAfter ?? 'none'})`
          : `no 429 at all: ${accepted.length} of ${flood} starts accepted in ${round(seconds)} s (${round(accepted.length / seconds)}/s) — the start rate limit is not implemented`,
      );

      await waitAllEnded(s.db, 120_000);
      await closingChecks(r, s.db, { starts: [...accepted, waiting.id, fan.id, seq.id] });
    },
    s.cleanup,
  );
}

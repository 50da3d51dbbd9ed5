/**
 * Scenario 6: terminate racing completion, and events racing terminate, through the HTTP API.
 *
 *  A. An instance waiting for an event gets the event and, 0–40 ms later, a terminate: it ends
 *     Completed (and the terminate got 410) or Terminated (and the terminate got 202).
 *  B. An instance waiting for two events gets both and a terminate at once: Completed with both
 *     events, or Terminated; no event recorded after the termination.
 *  C. A 30-activity fan-out terminated 0–300 ms after it starts: its open jobs are cancelled.
 *
 * Then, after a pause, nothing changed any more (status, history length, last update): nothing is
 * applied after the terminal state.
 */
import { randomBytes } from 'node:crypto';
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json, pool } from '../lib/http.ts';
import type { AckedEvent } from '../lib/invariants.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'races';
export const title = 'Terminate racing completion; events racing terminate';

interface Snapshot {
  instance_id: string;
  runtime_status: string;
  history_length: number;
  updated_at: Date;
  output: string | null;
  last_event: string | null;
}

async function snapshot(s: Awaited<ReturnType<typeof setup>>, ids: string[]): Promise<Map<string, Snapshot>> {
  const { rows } = await s.db.pool.query<Snapshot>(
    `SELECT instance_id, runtime_status, history_length, updated_at, output,
       (SELECT event_type FROM taskhub.history h WHERE h.instance_id = i.instance_id AND h.execution_id = i.execution_id ORDER BY seq DESC LIMIT 1) AS last_event
     FROM taskhub.instances i WHERE instance_id = ANY($1::text[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.instance_id, r]));
}

const rand = (max: number): number => Math.floor(Math.random() * max);

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const n = options.mode === 'full' ? 200 : options.mode === 'quick' ? 60 : 25;
  r.fault = 'terminate sent 0–40 ms after the event that completes the instance; two events and a terminate sent at once; terminate 0–300 ms into a fan-out';
  r.load = `${n} instances per race (A, B, C), 16 concurrent clients; 1 all-role + 1 worker process`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const [node] = await s.cluster.startAll([
        { name: 'all-1', role: 'all' },
        { name: 'worker-1', role: 'worker' },
      ]);
      const api = new Api(node!.url);
      const startMany = async (name: string, input: unknown, count: number): Promise<string[]> =>
        pool(Array.from({ length: count }, (_, i) => i), 16, async () => {
          const reply = await api.start(name, input);
          const body = json<{ id: string }>(reply);
          if (reply.status !== 202 || !body) throw new Error(`start ${name}: ${reply.status} ${reply.text}`);
          return body.id;
        });
      const waitRunning = async (ids: string[]): Promise<void> => {
        for (let i = 0; i < 200; i++) {
          const snap = await snapshot(s, ids);
          if ([...snap.values()].every((x) => x.runtime_status === 'Running')) return;
          await sleep(100);
        }
        throw new Error('instances did not reach Running');
      };
      const events: AckedEvent[] = [];
      const wrong: string[] = [];

      // A: terminate racing completion.
      const a = await startMany('RelWaitEvent', null, n);
      await waitRunning(a);
      const aReplies = await pool(a, 16, async (instanceId) => {
        const payload = JSON.stringify(`a-${randomBytes(4).toString('hex')}`);
        const raise = api.raise(instanceId, 'Go', payload);
        await sleep(rand(40));
        const terminate = await api.action(instanceId, 'terminate', 'race A');
        const raised = await raise;
        if (raised.status === 202) events.push({ instanceId, name: 'Go', payload });
        return { raised: raised.status, terminate: terminate.status };
      });

      // B: events racing terminate.
      const b = await startMany('RelTwoEvents', null, n);
      await waitRunning(b);
      const bPayloads = new Map<string, string[]>();
      const bReplies = await pool(b, 16, async (instanceId) => {
        const payloads = [JSON.stringify(`b1-${randomBytes(4).toString('hex')}`), JSON.stringify(`b2-${randomBytes(4).toString('hex')}`)];
        bPayloads.set(instanceId, payloads);
        const [e1, e2, t] = await Promise.all([
          api.raise(instanceId, 'Go', payloads[0] as string),
          sleep(rand(5)).then(() => api.raise(instanceId, 'Go', payloads[1] as string)),
          sleep(rand(10)).then(() => api.action(instanceId, 'terminate', 'race B')),
        ]);
        [e1, e2].forEach((e, i) => e.status === 202 && events.push({ instanceId, name: 'Go', payload: payloads[i] as string }));
        return { events: [e1.status, e2.status], terminate: t.status };
      });

      // C: terminate during a fan-out.
      const c = await startMany('RelFanOut', { count: 30, ms: 50 }, n);
      const cReplies = await pool(c, 16, async (instanceId) => {
        await sleep(rand(300));
        return (await api.action(instanceId, 'terminate', 'race C')).status;
      });

      const all = [...a, ...b, ...c];
      await waitAllEnded(s.db, 120_000);
      const first = await snapshot(s, all);

      const outcome = (ids: string[]): string => {
        const counts: Record<string, number> = {};
        for (const i of ids) counts[first.get(i)?.runtime_status ?? '?'] = (counts[first.get(i)?.runtime_status ?? '?'] ?? 0) + 1;
        return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
      };
      r.extra('A outcomes', outcome(a));
      r.extra('B outcomes', outcome(b));
      r.extra('C outcomes', outcome(c));

      a.forEach((instanceId, i) => {
        const x = first.get(instanceId);
        const t = aReplies[i]?.terminate;
        const consistent =
          (t === 202 && x?.runtime_status === 'Terminated' && x.output === '"race A"') ||
          (t === 410 && x?.runtime_status === 'Completed' && x.output !== null && JSON.parse(x.output).work === 4);
        if (!consistent) wrong.push(`A ${instanceId}: terminate ${t}, raise ${aReplies[i]?.raised}, ended ${x?.runtime_status} ${x?.output}`);
      });
      b.forEach((instanceId, i) => {
        const x = first.get(instanceId);
        const reply = bReplies[i];
        const t = reply?.terminate;
        let consistent = (t === 202 && x?.runtime_status === 'Terminated') || (t === 410 && x?.runtime_status === 'Completed');
        if (x?.runtime_status === 'Completed') {
          const got = JSON.stringify(JSON.parse(x.output ?? 'null'));
          const sent = JSON.stringify((bPayloads.get(instanceId) ?? []).map((p) => JSON.parse(p)));
          const sentReversed = JSON.stringify([...(bPayloads.get(instanceId) ?? [])].reverse().map((p) => JSON.parse(p)));
          consistent &&= got === sent || got === sentReversed;
        }
        if (!consistent) wrong.push(`B ${instanceId}: terminate ${t}, events ${reply?.events}, ended ${x?.runtime_status} ${x?.output}`);
      });
      c.forEach((instanceId, i) => {
        const x = first.get(instanceId);
        const t = cReplies[i];
        const consistent = (t === 202 && x?.runtime_status === 'Terminated') || (t === 410 && x?.runtime_status === 'Completed');
        if (!consistent) wrong.push(`C ${instanceId}: terminate ${t}, ended ${x?.runtime_status}`);
      });
      r.check('every final state agrees with what terminate answered (202 → Terminated, 410 → Completed)', wrong.length === 0, wrong.slice(0, 4).join('; ') || `${all.length} instances`);
      const lastEvents = [...first.values()].filter((x) => x.last_event !== (x.runtime_status === 'Terminated' ? 'ExecutionTerminated' : 'ExecutionCompleted'));
      r.check('the terminal event is the last event of every history', lastEvents.length === 0, lastEvents.slice(0, 3).map((x) => `${x.instance_id}: ${x.runtime_status} ends with ${x.last_event}`).join('; '));

      // Late results, cancelled jobs still finishing, duplicate wake-ups: give them time, then compare.
      await sleep(3000);
      const later = await snapshot(s, all);
      const changed = all.filter((i) => {
        const x = first.get(i);
        const y = later.get(i);
        return !x || !y || x.runtime_status !== y.runtime_status || x.history_length !== y.history_length || x.updated_at.getTime() !== y.updated_at.getTime();
      });
      r.check('nothing changed after the terminal state (3 s later: same status, history length, last update)', changed.length === 0, changed.slice(0, 3).join(', '));
      const terminated = all.filter((i) => first.get(i)?.runtime_status === 'Terminated');
      const { rows: open } = await s.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM taskhub_boss.job WHERE data->>'instanceId' = ANY($1::text[]) AND state IN ('created', 'retry', 'active')`,
        [terminated],
      );
      r.check('no activity job of a terminated instance is still queued or running', (open[0]?.n ?? 0) === 0, `${open[0]?.n ?? 0} open`);
      const { rows: cancelled } = await s.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM taskhub_boss.job WHERE data->>'instanceId' = ANY($1::text[]) AND state = 'cancelled'`,
        [terminated],
      );
      r.extra('activity jobs cancelled by terminate', cancelled[0]?.n ?? 0);
      r.figures.faultsInjected = aReplies.length + bReplies.length + cReplies.length;
      await closingChecks(r, s.db, { starts: all, events });
    },
    s.cleanup,
  );
}

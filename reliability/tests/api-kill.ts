/**
 * Scenario 2: the API process killed with SIGKILL during a burst of starts. Starts go out 32 at a
 * time (most with a client-chosen instance ID, some with a server-chosen one, some to a keyed
 * single-instance orchestration); once 30 % are acknowledged the API process is killed and a new
 * one started, and the burst goes on against it. Every start that got 202 exists; a start that got
 * no answer exists entirely or not at all; no instance is half-created (the invariants); the
 * single-instance rule held; everything that exists runs to the end.
 */
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json, pool, type Reply } from '../lib/http.ts';
import type { ServerNode } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'api-kill';
export const title = 'API process SIGKILL during a burst of starts';

interface Start {
  index: number;
  name: string;
  input: unknown;
  instanceId: string | undefined;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const total = options.mode === 'full' ? 3000 : options.mode === 'quick' ? 600 : 200;
  r.fault = 'SIGKILL of the API process once 30 % of the starts are acknowledged; a new API process is started at once';
  r.load = `${total} starts, 32 concurrent (70 % RelSequence with a client-chosen ID, 20 % with a server-chosen ID, 10 % keyed singleton); 1 api + 1 worker process`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const [first] = await s.cluster.startAll([
        { name: 'api-1', role: 'api' },
        { name: 'worker', role: 'worker' },
      ]);
      const api = new Api(first!.url);
      const starts: Start[] = Array.from({ length: total }, (_, i) => {
        const kind = i % 10;
        if (kind === 9) return { index: i, name: 'RelSingleton', input: { tenant: `t${i % 7}` }, instanceId: `ak-s-${i}` };
        if (kind >= 7) return { index: i, name: 'RelSequence', input: { steps: 2 }, instanceId: undefined };
        return { index: i, name: 'RelSequence', input: { steps: 2 }, instanceId: `ak-${i}` };
      });
      let acked = 0;
      let killedAt = 0;
      let recoveredAt = 0;
      const killed = new Set<ServerNode>();
      let killing: Promise<void> | undefined;
      const firstBase = api.base;
      const replies = await pool(starts, 32, async (start): Promise<Reply> => {
        const target = api.base;
        const reply = await api.start(start.name, start.input, { instanceId: start.instanceId });
        if (reply.status === 202) {
          acked++;
          if (target !== firstBase && !recoveredAt) recoveredAt = Date.now(); // the new API process answered
        }
        if (!killing && acked >= total * 0.3) {
          killing = (async () => {
            killedAt = Date.now();
            await first!.kill('SIGKILL');
            killed.add(first!);
            const second = await s.cluster.start({ name: 'api-2', role: 'api' });
            api.base = new Api(second.url).base;
          })();
        }
        if (killing && reply.status === 0) await killing; // wait for the new API before the next start
        return reply;
      });
      await killing;
      if (!recoveredAt) throw new Error('no start was acknowledged after the kill');
      r.figures.faultsInjected = 1;
      r.figures.recoverySeconds = round((recoveredAt - killedAt) / 1000);

      const ackedIds: string[] = [];
      const unanswered: Start[] = [];
      const statuses: Record<string, number> = {};
      replies.forEach((reply, i) => {
        statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
        const start = starts[i] as Start;
        if (reply.status === 202) ackedIds.push(json<{ id: string }>(reply)?.id ?? `(no id in ${reply.text})`);
        else if (reply.status === 0) unanswered.push(start);
      });
      r.extra('starts sent', total);
      r.extra('answers by status (0 = no answer)', Object.entries(statuses).map(([k, v]) => `${k}: ${v}`).join(', '));
      await waitAllEnded(s.db, 300_000);

      const chosen = unanswered.filter((x) => x.instanceId !== undefined).map((x) => x.instanceId as string);
      const { rows: existing } = await s.db.pool.query<{ instance_id: string; runtime_status: string; output: string | null }>(
        `SELECT instance_id, runtime_status, output FROM taskhub.instances WHERE instance_id = ANY($1::text[])`,
        [chosen],
      );
      r.extra('unanswered starts with a chosen ID that committed anyway', `${existing.length} of ${chosen.length}`);
      const bad = existing.filter((x) => x.runtime_status !== 'Completed');
      r.check('an unanswered start exists entirely (and ran to the end) or not at all', bad.length === 0, bad.slice(0, 3).map((x) => `${x.instance_id} ${x.runtime_status}`).join(', '));
      const { rows: wrong } = await s.db.pool.query<{ instance_id: string; runtime_status: string; output: string | null }>(
        `SELECT instance_id, runtime_status, output FROM taskhub.instances WHERE name = 'RelSequence' AND (runtime_status <> 'Completed' OR output <> '5')`,
      );
      r.check('every RelSequence instance completed with the right output', wrong.length === 0, wrong.slice(0, 3).map((x) => `${x.instance_id} ${x.runtime_status} ${x.output}`).join(', '));
      r.check('the worker process stayed up', s.cluster.unexpectedExits(killed).length === 0, s.cluster.unexpectedExits(killed).join(', '));
      r.check('a second API process answered after the kill', recoveredAt > 0, `${r.figures.recoverySeconds} s from the kill to its first 202 (process start included)`);
      await closingChecks(r, s.db, { starts: ackedIds });
    },
    s.cleanup,
  );
}

/**
 * Scenario 7: a code change under running instances. Version 1 of `RelVersioned` calls RelWork at
 * task 0 and waits for an event; the process stops; version 2 (RELIABILITY_VARIANT=v2) calls
 * RelSleep there instead. Once the event arrives, the v1 instances fail with a NonDeterminismError
 * naming the task and both activities; unchanged orchestrations running beside them complete, and
 * new RelVersioned instances run v2 to the end. (The same case as test/integration/engine.test.ts,
 * here between real processes and under the oracle and the invariants.)
 */
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json } from '../lib/http.ts';
import { waitFor } from '../lib/procs.ts';
import { Recorder, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'nondeterminism';
export const title = 'Code change under running instances (non-determinism)';

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const n = options.mode === 'full' ? 20 : 5;
  r.fault = 'the process running v1 of RelVersioned is stopped; v2 (task 0 calls another activity) takes over its instances';
  r.load = `${n} RelVersioned + ${n} unchanged RelWaitEvent instances started on v1, ${n} RelVersioned started on v2; one all-role process per version`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const v1 = await s.cluster.start({ name: 'v1', role: 'all', env: { RELIABILITY_VARIANT: 'v1' } });
      let api = new Api(v1.url);
      const start = async (name: string, input?: unknown): Promise<string> => {
        const reply = await api.start(name, input);
        const body = json<{ id: string }>(reply);
        if (reply.status !== 202 || !body) throw new Error(`start ${name}: ${reply.status} ${reply.text}`);
        return body.id;
      };
      const versioned: string[] = [];
      const unchanged: string[] = [];
      for (let i = 0; i < n; i++) {
        versioned.push(await start('RelVersioned'));
        unchanged.push(await start('RelWaitEvent'));
      }
      // v1 has recorded task 0's result and waits for 'Continue'.
      await waitFor(
        'v1 instances to record their first activity',
        async () =>
          (
            await s.db.pool.query<{ n: number }>(
              `SELECT count(DISTINCT instance_id)::int AS n FROM taskhub.history WHERE instance_id = ANY($1::text[]) AND event_type = 'TaskCompleted'`,
              [versioned],
            )
          ).rows[0]?.n === n,
        30_000,
      );
      await v1.kill('SIGTERM');
      r.figures.faultsInjected = 1;

      const v2 = await s.cluster.start({ name: 'v2', role: 'all', env: { RELIABILITY_VARIANT: 'v2' } });
      api = new Api(v2.url);
      const fresh: string[] = [];
      for (let i = 0; i < n; i++) fresh.push(await start('RelVersioned'));
      for (const instanceId of [...versioned, ...fresh]) await api.raise(instanceId, 'Continue', 'true');
      for (const instanceId of unchanged) await api.raise(instanceId, 'Go', JSON.stringify(instanceId));
      await waitAllEnded(s.db, 60_000);

      const { rows } = await s.db.pool.query<{ instance_id: string; runtime_status: string; output: string | null; failure: { type?: string; message?: string } | null }>(
        `SELECT instance_id, runtime_status, output, failure FROM taskhub.instances`,
      );
      const byId = new Map(rows.map((x) => [x.instance_id, x]));
      const failedRight = versioned.filter((i) => {
        const x = byId.get(i);
        const m = x?.failure?.message ?? '';
        return x?.runtime_status === 'Failed' && x.failure?.type === 'NonDeterminismError' && /task 0\b/.test(m) && /'RelWork'/.test(m) && /'RelSleep'/.test(m);
      });
      const example = byId.get(versioned[0] as string);
      r.check('every v1 instance failed with a NonDeterminismError naming task 0, RelWork and RelSleep', failedRight.length === n, `${failedRight.length}/${n}; e.g. ${example?.failure?.message}`);
      const statusOut = json<{ runtimeStatus?: string; output?: string }>(await api.status(versioned[0] as string));
      r.check('the status API shows it Failed with that reason', statusOut?.runtimeStatus === 'Failed' && /NonDeterminism|task 0/.test(String(statusOut.output)), `${statusOut?.runtimeStatus}: ${statusOut?.output}`);
      const others = unchanged.filter((i) => byId.get(i)?.runtime_status === 'Completed');
      r.check('the unchanged orchestrations beside them completed', others.length === n, `${others.length}/${n}`);
      const v2done = fresh.filter((i) => byId.get(i)?.runtime_status === 'Completed' && byId.get(i)?.output === '"v2 done"');
      r.check('new instances run the new code to the end', v2done.length === n, `${v2done.length}/${n}`);
      r.check('the processes stayed up', v2.running(), '');
      await closingChecks(r, s.db, { starts: [...versioned, ...unchanged, ...fresh] });
    },
    s.cleanup,
  );
}

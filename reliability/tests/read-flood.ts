/**
 * Scenario 14: a status-read flood. Clients read a ~6,000-event history (showHistory +
 * showHistoryOutput) in a loop while short orchestrations start and run, as operators polling
 * dashboards do: every orchestration completes, every read answers 200 with the whole payload, the
 * process keeps answering /healthz, and a sequence's start-to-completion time under the flood is
 * reported against the same run's idle time.
 */
import { closingChecks, setup, waitAllEnded } from '../lib/harness.ts';
import { Api, json, send } from '../lib/http.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';
import { sumOfSquares } from '../lib/workload.ts';

export const id = 'read-flood';
export const title = 'Status-read flood: 100 clients reading a 6,000-event history while orchestrations run';

const HISTORY_ACTIVITIES = 3000;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const readers = options.mode === 'test' ? 50 : 100;
  const runs = options.mode === 'full' ? 40 : 15;
  r.fault = `${readers} clients in a loop on GET instances/{id}?showHistory=true&showHistoryOutput=true of a completed ${HISTORY_ACTIVITIES}-activity fan-out`;
  r.load = `${runs} RelSequence (3 steps) one after another in wait mode, idle and then under the flood; 1 all-role process`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const node = await s.cluster.start({ name: 'all-1', role: 'all' });
      const api = new Api(node.url);
      const big = json<{ id: string }>(await api.start('RelFanOut', { count: HISTORY_ACTIVITIES }));
      if (!big) throw new Error('could not start the history instance');
      await waitAllEnded(s.db, 120_000);
      const { rows } = await s.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM taskhub.history WHERE instance_id = $1', [big.id]);
      r.extra('history events of the instance read', rows[0]?.n ?? 0);
      const query = 'showHistory=true&showHistoryOutput=true';
      const reference = await api.status(big.id, query);
      r.check('the history read answers 200', reference.status === 200, `${reference.status}`);
      r.extra('payload bytes', Buffer.byteLength(reference.text));

      const sequences = async (): Promise<{ ms: number[]; wrong: string[] }> => {
        const ms: number[] = [];
        const wrong: string[] = [];
        for (let i = 0; i < runs; i++) {
          const started = performance.now();
          const reply = await api.start('RelSequence', { steps: 3 }, { query: 'timeout=60&pollingInterval=1', timeoutMs: 70_000 });
          ms.push(performance.now() - started);
          if (reply.status !== 200 || reply.text !== String(sumOfSquares(3))) wrong.push(`${reply.status} ${reply.text.slice(0, 80)}`);
        }
        return { ms, wrong };
      };
      const idle = await sequences();

      let reading = true;
      let reads = 0;
      const badReads: string[] = [];
      const flood = Array.from({ length: readers }, async () => {
        while (reading) {
          const reply = await api.status(big.id, query);
          reads++;
          if (reply.status !== 200 || reply.text !== reference.text) badReads.push(`${reply.status} ${reply.error ?? ''} ${reply.text.length}`);
        }
      });
      let probing = true;
      const probes: number[] = [];
      const prober = (async () => {
        while (probing) {
          const reply = await send(`${node.url}/healthz`, { timeoutMs: 10_000 });
          probes.push(reply.status === 200 ? reply.ms : Number.POSITIVE_INFINITY);
          await sleep(50);
        }
      })();
      const floodStarted = performance.now();
      await sleep(500);
      const loaded = await sequences();
      reading = false;
      probing = false;
      await Promise.all([...flood, prober]);
      const floodSeconds = (performance.now() - floodStarted) / 1000;

      r.figures.faultsInjected = reads;
      r.check('every sequence completed with its output, idle and under the flood', idle.wrong.length + loaded.wrong.length === 0, [...idle.wrong, ...loaded.wrong].slice(0, 3).join('; '));
      r.check('every history read answered 200 with the whole payload', badReads.length === 0, badReads.length ? `${badReads.length} bad, e.g. ${badReads.slice(0, 3).join('; ')}` : `${reads} reads`);
      r.check('/healthz answered throughout', probes.length > 0 && probes.every(Number.isFinite), `${probes.length} probes`);
      r.check('the process stayed up', node.running(), '');
      const idleP50 = median(idle.ms);
      const floodP50 = median(loaded.ms);
      r.extra('history reads served per second', round(reads / floodSeconds, 1));
      r.extra('RelSequence start → completion p50, idle (ms)', round(idleP50, 1));
      r.extra('RelSequence start → completion p50, under the flood (ms)', round(floodP50, 1));
      r.extra('under the flood / idle (p50)', round(floodP50 / idleP50, 2));
      r.extra('worst /healthz answer during the flood (ms)', round(Math.max(...probes), 1));
      await closingChecks(r, s.db);
    },
    s.cleanup,
  );
}

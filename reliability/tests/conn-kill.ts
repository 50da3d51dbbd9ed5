/**
 * Scenario 4: the service's database connections killed from the database side under load:
 * pg_terminate_backend on every backend whose application_name is pg-taskhub (engine pools) or
 * pg-taskhub-boss (pg-boss), and the dispatcher's LISTEN connection (no application_name), every
 * 2 s while starts, events and fan-outs keep coming. No process crashes; nothing acknowledged is
 * lost; a probe started right after each kill completes (end-to-end recovery time). Per blip, the
 * instances whose turn was leased at the kill (so most likely cut mid-turn) are followed until each
 * moves on (its lease released and its history grown, or it ended): the time the blip cost them.
 * Before the turn runner released its lease after a lost connection, that was the 30 s lease.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { backendsByApp, SERVICE_APPS, terminateBackends } from '../lib/faults.ts';
import { closingChecks, setup, waitAllEnded, waitEnded, API_AND_TWO_WORKERS } from '../lib/harness.ts';
import { Api, json } from '../lib/http.ts';
import type { AckedEvent } from '../lib/invariants.ts';
import { sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'conn-kill';
export const title = 'Connections killed from the database side under load';

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const seconds = options.mode === 'full' ? 60 : options.mode === 'quick' ? 20 : 10;
  const everyMs = 2000;
  const apps = [...SERVICE_APPS, ''];
  r.fault = `pg_terminate_backend on every backend of the service (application_name ${SERVICE_APPS.join(', ')}, and unnamed: the LISTEN connection) every ${everyMs / 1000} s`;
  r.load = `${seconds} s of starts (RelSequence ×5 steps, RelWaitEvent + its event, RelFanOut ×40) from 8 clients; 1 api + 2 worker processes`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const [apiNode] = await s.cluster.startAll([...API_AND_TWO_WORKERS]);
      const api = new Api(apiNode!.url);
      const starts: string[] = [];
      const events: AckedEvent[] = [];
      const failures: Record<string, number> = {};
      const fail = (what: string): void => void (failures[what] = (failures[what] ?? 0) + 1);
      const deadline = Date.now() + seconds * 1000;

      const client = async (k: number): Promise<void> => {
        for (let i = 0; Date.now() < deadline; i++) {
          const kind = (k + i) % 4;
          if (kind === 3 && i % 4 !== 0) continue;
          const [name, input] =
            kind === 0 || kind === 1 ? ['RelSequence', { steps: 5 }] : kind === 2 ? ['RelWaitEvent', null] : ['RelFanOut', { count: 40 }];
          const reply = await api.start(name, input);
          const instanceId = json<{ id: string }>(reply)?.id;
          if (reply.status !== 202 || !instanceId) {
            fail(`start ${reply.status}`);
            continue;
          }
          starts.push(instanceId);
          if (name === 'RelWaitEvent') {
            const payload = JSON.stringify(`e-${randomBytes(4).toString('hex')}`);
            for (let attempt = 0; attempt < 40; attempt++) {
              const raised = await api.raise(instanceId, 'Go', payload);
              if (raised.status === 202) {
                events.push({ instanceId, name: 'Go', payload });
                break;
              }
              fail(`raise ${raised.status}`);
              await sleep(100);
            }
          }
          await sleep(50);
        }
      };

      const kills: Array<{ total: number; byApp: Record<string, number> }> = [];
      /** Per blip: how long the instances cut mid-turn took to move on (the slowest of them), and how many there were. */
      const stalls: Array<Promise<{ leased: number; seconds: number }>> = [];
      const probes: Array<Promise<{ accepted: number; turn: number; completed: number }>> = [];
      const killer = (async () => {
        await sleep(1000);
        while (Date.now() < deadline) {
          const { rows: leased } = await s.db.pool.query<{ instance_id: string; history_length: number }>(
            `SELECT instance_id, history_length FROM taskhub.instances WHERE lease_owner IS NOT NULL`,
          );
          const killed = await terminateBackends(s.db.pool, s.db.name, apps);
          const at = Date.now();
          kills.push(killed);
          stalls.push(
            (async () => {
              const waiting = new Map(leased.map((l) => [l.instance_id, l.history_length]));
              while (waiting.size > 0 && Date.now() - at < 120_000) {
                const { rows } = await s.db.pool.query<{ instance_id: string; history_length: number; runtime_status: string; lease_owner: string | null }>(
                  `SELECT instance_id, history_length, runtime_status, lease_owner FROM taskhub.instances WHERE instance_id = ANY($1::text[])`,
                  [[...waiting.keys()]],
                );
                for (const row of rows) {
                  const moved = row.history_length !== waiting.get(row.instance_id) || !['Pending', 'Running', 'ContinuedAsNew'].includes(row.runtime_status);
                  if (moved) waiting.delete(row.instance_id);
                }
                for (const id of [...waiting.keys()]) if (!rows.some((row) => row.instance_id === id)) waiting.delete(id);
                if (waiting.size > 0) await sleep(20);
              }
              return { leased: leased.length, seconds: waiting.size === 0 ? (Date.now() - at) / 1000 : Number.NaN };
            })(),
          );
          // Recovery: the API accepts a start again, and the engine commits a turn again.
          const turn = (async () => {
            for (;;) {
              const { rows } = await s.db.pool.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM (SELECT 1 FROM taskhub.history WHERE event_time > $1 LIMIT 1) t`,
                [new Date(at)],
              );
              if ((rows[0]?.n ?? 0) > 0 || Date.now() - at > 120_000) return (Date.now() - at) / 1000;
              await sleep(20);
            }
          })();
          probes.push(
            (async () => {
              for (let attempt = 0; attempt < 200; attempt++) {
                const reply = await api.start('RelSequence', { steps: 1 });
                const probeId = json<{ id: string }>(reply)?.id;
                if (reply.status === 202 && probeId) {
                  const accepted = (Date.now() - at) / 1000;
                  starts.push(probeId);
                  await waitEnded(s.db, [probeId], 120_000);
                  return { accepted, turn: await turn, completed: (Date.now() - at) / 1000 };
                }
                await sleep(20);
              }
              return { accepted: Number.NaN, turn: await turn, completed: Number.NaN };
            })(),
          );
          await sleep(everyMs);
        }
      })();
      const before = await backendsByApp(s.db.pool, s.db.name);
      await Promise.all([killer, ...Array.from({ length: 8 }, (_, k) => client(k))]);
      const probed = await Promise.all(probes);
      const stalled = await Promise.all(stalls);
      const cut = stalled.filter((b) => b.leased > 0);
      const recoveries = probed.map((p) => Math.max(p.accepted, p.turn));
      await waitAllEnded(s.db, 180_000);

      const total = kills.reduce((a, k) => a + k.total, 0);
      const byApp: Record<string, number> = {};
      for (const k of kills) for (const [app, n] of Object.entries(k.byApp)) byApp[app] = (byApp[app] ?? 0) + n;
      r.figures.faultsInjected = total;
      r.figures.recoverySeconds = round(Math.max(...recoveries));
      r.extra('kill rounds', kills.length);
      r.extra('backends terminated, by application_name', Object.entries(byApp).map(([k, v]) => `${k}: ${v}`).join(', '));
      r.extra('backends before the first kill', Object.entries(before).map(([k, v]) => `${k}: ${v}`).join(', '));
      r.extra('after a kill: API accepts a start again, median / max (s)', `${round(median(probed.map((p) => p.accepted)))} / ${round(Math.max(...probed.map((p) => p.accepted)))}`);
      r.extra('after a kill: a turn commits again, median / max (s)', `${round(median(probed.map((p) => p.turn)))} / ${round(Math.max(...probed.map((p) => p.turn)))}`);
      r.extra('after a kill: a probe started then completes (behind the backlog), median / max (s)', `${round(median(probed.map((p) => p.completed)))} / ${round(Math.max(...probed.map((p) => p.completed)))}`);
      r.extra(
        'per blip: instances leased mid-turn at the kill, and seconds until the last of them moved on',
        stalled.map((b) => (b.leased > 0 ? `${b.leased}: ${round(b.seconds)}` : '0: –')).join(', '),
      );
      r.extra(
        'per blip: turns cut by the kill moved on after, median / max (s)',
        `${round(median(cut.map((b) => b.seconds)))} / ${round(Math.max(...cut.map((b) => b.seconds)))}`,
      );
      // The end-to-end figures (probes behind the backlog) depend on what else the machine runs.
      r.extra('machine load average at the end, 1 / 5 min', os.loadavg().slice(0, 2).map((x) => round(x)).join(' / '));
      r.extra('refused or failed requests (retried or counted, not acknowledged)', Object.entries(failures).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none');
      r.check('every kill round hit service connections', kills.every((k) => k.total > 0), kills.map((k) => k.total).join(', '));
      r.check('no process crashed', s.cluster.unexpectedExits().length === 0, s.cluster.unexpectedExits().join(', '));
      // A blip should cost about the blip: far below the 30 s turn lease a stalled turn used to wait out.
      r.check(
        'turns cut by a kill move on within 5 s (not the 30 s lease)',
        cut.every((b) => Number.isFinite(b.seconds) && b.seconds < 5),
        cut.map((b) => round(b.seconds)).join(', '),
      );
      r.check('every probe after a kill completed', probed.every((p) => Number.isFinite(p.completed)), probed.map((p) => round(p.completed)).join(', '));
      const fiveXX = Object.entries(failures).filter(([k]) => /\s5\d\d$/.test(k) && !/503$/.test(k));
      const errors = new Map<string, number>();
      for (const line of apiNode!.problems(50)) {
        const err = line.err as { message?: string; code?: string } | undefined;
        const key = `${String(line.msg)}: ${err?.code ?? ''} ${err?.message ?? ''}`.trim();
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
      const logged = [...errors].map(([k, v]) => `${v}× ${k}`).join('; ');
      r.check('no 5xx other than 503 (database unavailable, retry)', fiveXX.length === 0, `${fiveXX.map(([k, v]) => `${k}: ${v}`).join(', ')}${logged ? ` — API error log: ${logged}` : ''}`);
      const { rows: wrong } = await s.db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM taskhub.instances WHERE runtime_status <> 'Completed'`);
      r.check('every instance completed', (wrong[0]?.n ?? 0) === 0, `${wrong[0]?.n ?? 0} did not`);
      await closingChecks(r, s.db, { starts, events });
    },
    s.cleanup,
  );
}

function median(xs: number[]): number {
  const sorted = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * Scenario 11: a soak of mixed load (10 minutes in full mode, 30 s with --quick): 8 clients start
 * sequences, fan-outs, timer-and-event orchestrations, keyed singletons and continue-as-new loops,
 * raise the events, read statuses and listings, terminate and purge now and then. Every answer is
 * checked against what the contract allows (an error is a 5xx, a dropped connection or an answer
 * the operation cannot give); the resident memory of every process is sampled every 5 s and must
 * stay flat after warm-up. Afterwards everything drains and the invariants hold.
 */
import { randomBytes } from 'node:crypto';
import { closingChecks, setup, waitAllEnded, API_AND_TWO_WORKERS } from '../lib/harness.ts';
import { Api, json, type Reply } from '../lib/http.ts';
import type { AckedEvent } from '../lib/invariants.ts';
import { type ServerNode, sleep } from '../lib/procs.ts';
import { Recorder, round, runScenario, type ScenarioOptions, type ScenarioResult } from '../lib/report.ts';

export const id = 'soak';
export const title = 'Soak: mixed load, errors and memory';

type Op = 'sequence' | 'fanout' | 'timer-event' | 'singleton' | 'countdown' | 'status' | 'list' | 'terminate' | 'purge' | 'raise';
const WEIGHTS: Array<[Exclude<Op, 'raise'>, number]> = [
  ['sequence', 28],
  ['fanout', 8],
  ['timer-event', 14],
  ['singleton', 8],
  ['countdown', 5],
  ['status', 20],
  ['list', 6],
  ['terminate', 4],
  ['purge', 7],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((a, [, w]) => a + w, 0);

function pick(): Exclude<Op, 'raise'> {
  let x = Math.random() * TOTAL_WEIGHT;
  for (const [op, w] of WEIGHTS) {
    x -= w;
    if (x < 0) return op;
  }
  return 'status';
}

/** The statuses an operation may answer with; anything else (or a 5xx, or no answer) is an error. */
const ALLOWED: Record<Op, number[]> = {
  sequence: [202],
  fanout: [202],
  'timer-event': [202],
  countdown: [202],
  singleton: [202, 409],
  status: [200, 202, 404],
  list: [200],
  terminate: [202, 404, 410],
  purge: [200, 404], // an active instance is terminated and purged (200)
  raise: [202, 404, 410], // 410: a random terminate got there first; 404: a random purge (an active instance is purged too)
};

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const r = new Recorder(id, title, options.mode);
  const seconds = options.mode === 'full' ? 600 : options.mode === 'quick' ? 30 : 15;
  const clients = 8;
  r.fault = 'none: sustained mixed load';
  r.load = `${seconds} s, ${clients} clients (${WEIGHTS.map(([op, w]) => `${op} ${Math.round((w / TOTAL_WEIGHT) * 100)} %`).join(', ')}), ~100–300 ms think time; 1 api + 2 worker processes`;
  const s = await setup(id);
  return runScenario(
    r,
    async () => {
      const [apiNode] = await s.cluster.startAll([...API_AND_TWO_WORKERS]);
      const api = new Api(apiNode!.url);
      const started: string[] = [];
      const purged = new Set<string>();
      const events: AckedEvent[] = [];
      const errors: Record<string, number> = {};
      const examples: string[] = [];
      const counts: Record<string, number> = {};
      const latencies: number[] = [];
      const pendingEvents: Array<Promise<void>> = [];
      const deadline = Date.now() + seconds * 1000;
      const record = (op: Op, reply: Reply): void => {
        counts[op] = (counts[op] ?? 0) + 1;
        latencies.push(reply.ms);
        if (!ALLOWED[op].includes(reply.status)) {
          const key = `${op} ${reply.status}`;
          errors[key] = (errors[key] ?? 0) + 1;
          if (examples.length < 5) examples.push(`${key}: ${reply.error ?? reply.text.slice(0, 160)}`);
        }
      };
      const someId = (): string | undefined => started[Math.floor(Math.random() * started.length)];

      const client = async (): Promise<void> => {
        while (Date.now() < deadline) {
          const op = pick();
          let reply: Reply;
          switch (op) {
            case 'sequence':
            case 'fanout':
            case 'timer-event':
            case 'singleton':
            case 'countdown': {
              const [name, input] = {
                sequence: ['RelSequence', { steps: 3 }],
                fanout: ['RelFanOut', { count: 20 }],
                'timer-event': ['RelTimerEvent', { timerMs: 1000, events: 1 }],
                singleton: ['RelSingleton', { tenant: `tenant-${Math.floor(Math.random() * 10)}` }],
                countdown: ['RelCountdown', 3],
              }[op] as [string, unknown];
              reply = await api.start(name, input);
              const instanceId = json<{ id: string }>(reply)?.id;
              if (reply.status === 202 && instanceId) {
                started.push(instanceId);
                if (op === 'timer-event') {
                  const payload = JSON.stringify(`soak-${randomBytes(4).toString('hex')}`);
                  pendingEvents.push(
                    sleep(500 + Math.random() * 1500).then(async () => {
                      const raised = await api.raise(instanceId, 'Go', payload);
                      record('raise', raised);
                      if (raised.status === 202) events.push({ instanceId, name: 'Go', payload });
                    }),
                  );
                }
              }
              break;
            }
            case 'status': {
              const target = someId();
              if (!target) continue;
              reply = await api.status(target, Math.random() < 0.2 ? 'showHistory=true' : '');
              break;
            }
            case 'list':
              reply = await api.list(`top=50&runtimeStatus=${Math.random() < 0.5 ? 'Running' : 'Completed'}`);
              break;
            case 'terminate': {
              const target = someId();
              if (!target) continue;
              reply = await api.action(target, 'terminate', 'soak');
              break;
            }
            case 'purge': {
              const target = someId();
              if (!target) continue;
              reply = await api.purge(target);
              if (reply.status === 200) purged.add(target);
              break;
            }
          }
          record(op, reply);
          await sleep(100 + Math.random() * 200);
        }
      };

      // Memory: every process's RSS every 5 s; "start" is the first sample after warm-up.
      const warmup = Math.min(60, Math.max(5, seconds * 0.2)) * 1000;
      const samples = new Map<ServerNode, Array<{ t: number; kb: number }>>();
      const t0 = Date.now();
      const sampler = (async () => {
        while (Date.now() < deadline) {
          for (const node of s.cluster.nodes) {
            const kb = node.rssKb();
            if (kb !== undefined) samples.set(node, [...(samples.get(node) ?? []), { t: Date.now() - t0, kb }]);
          }
          await sleep(5000);
        }
      })();
      await Promise.all([sampler, ...Array.from({ length: clients }, () => client())]);
      const loadSeconds = (Date.now() - t0) / 1000;
      await Promise.all(pendingEvents);
      const drain = await waitAllEnded(s.db, 300_000);

      const ops = Object.values(counts).reduce((a, b) => a + b, 0);
      const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
      latencies.sort((a, b) => a - b);
      r.figures.faultsInjected = 0;
      r.extra('operations', ops);
      r.extra('operations per second', round(ops / loadSeconds));
      r.extra('operations by kind', Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', '));
      r.extra('HTTP latency p50 / p99 / max (ms)', `${round(latencies[Math.floor(latencies.length / 2)] ?? 0)} / ${round(latencies[Math.floor(latencies.length * 0.99)] ?? 0)} / ${round(latencies[latencies.length - 1] ?? 0)}`);
      r.extra('instances started', started.length);
      r.extra('drain after the load stopped (s)', round(drain));
      r.extra('errors', errorCount);
      r.check('error count 0 (no 5xx, no dropped connection, no answer outside the contract)', errorCount === 0, errorCount ? `${Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(', ')}; e.g. ${examples.join(' | ')}` : `${ops} operations`);
      r.check('no process died', s.cluster.unexpectedExits().length === 0, s.cluster.unexpectedExits().join(', '));

      const flat: string[] = [];
      for (const [node, list] of samples) {
        const afterWarmup = list.filter((x) => x.t >= warmup);
        const first = afterWarmup[0] ?? list[0];
        const last = list[list.length - 1];
        const max = Math.max(...list.map((x) => x.kb));
        if (!first || !last) continue;
        const growth = (last.kb - first.kb) / first.kb;
        r.extra(`RSS ${node.name}: start / end / max (MB)`, `${round(first.kb / 1024)} / ${round(last.kb / 1024)} / ${round(max / 1024)}`);
        // Flat: the end is within 25 % (and 64 MB) of the warm start.
        if (growth > 0.25 && last.kb - first.kb > 64 * 1024) flat.push(`${node.name} +${round(growth * 100)} %`);
      }
      r.check('memory flat after warm-up (end within 25 % or 64 MB of the start)', flat.length === 0, flat.join(', ') || `${samples.size} processes sampled every 5 s`);
      const acked = started.filter((x) => !purged.has(x));
      await closingChecks(r, s.db, { starts: acked, events: events.filter((e) => !purged.has(e.instanceId)) });
    },
    s.cleanup,
  );
}

/**
 * Concurrency control's figures (issue 14), over HTTP against the real server process:
 * - a contended start: N concurrent starts (connections opened first) per policy, p50 / p99 of the
 *   answers, next to the same storm on an orchestration without any limit (the same-run baseline);
 * - the queue hand-off: the holder of a limit-1 key gets its 'release' event and ends; the time
 *   until the next queued instance is Running (its first turn committed), next to the time until
 *   the released holder itself is Completed (the same path without the hand-off: the baseline).
 * Each policy has its own orchestration, so no phase inherits another's rows.
 */
import http from 'node:http';
import { BASE, HttpClient } from './http.ts';
import { type Target, timedRequest } from './engine.ts';
import { round, sleep, summarize, type LatencySummary } from './stats.ts';

export interface PolicyStorm {
  policy: string;
  orchestration: string;
  latencyMs: LatencySummary;
  statusCodes: Record<string, number>;
  /** Active instances holding a slot after the storm (limit-bounded policies: at most the limit). */
  holdersAfter: number;
  /** Instances waiting in the queue after the storm. */
  queuedAfter: number;
}

export interface ConcurrencyResult {
  concurrentStarts: number;
  storms: PolicyStorm[];
  handOff: { samples: number; handOffMs: LatencySummary; baselineMs: LatencySummary };
}

const STORMS: ReadonlyArray<{ policy: string; orchestration: string; query: string }> = [
  { policy: 'none (baseline: no limit)', orchestration: 'BenchWaits', query: '' },
  { policy: 'fail (limit 3)', orchestration: 'BenchLimitFail', query: '' },
  { policy: 'useExisting (limit 3)', orchestration: 'BenchLimitExisting', query: '?onConflict=useExisting' },
  { policy: 'terminateExisting (limit 3)', orchestration: 'BenchLimitTerminate', query: '?onConflict=terminateExisting' },
  { policy: 'queue (limit 1)', orchestration: 'BenchQueue', query: '?onConflict=queue' },
  { policy: 'replaceQueued (limit 1)', orchestration: 'BenchReplace', query: '?onConflict=replaceQueued' },
  { policy: 'debounce (60 s window)', orchestration: 'BenchDebounce', query: '?onConflict=debounce' },
];

async function counts(t: Target, name: string): Promise<{ holders: number; queued: number }> {
  const { rows } = await t.db.query<{ holders: number; queued: number }>(
    `SELECT count(*) FILTER (WHERE concurrency_slot IS NOT NULL AND singleton_key IS NOT NULL)::int AS holders,
            count(*) FILTER (WHERE queued_seq IS NOT NULL)::int AS queued
     FROM instances WHERE name = $1 AND runtime_status IN ('Pending', 'Running', 'ContinuedAsNew', 'Suspended')`,
    [name],
  );
  return rows[0] ?? { holders: -1, queued: -1 };
}

async function storm(t: Target, concurrent: number, s: (typeof STORMS)[number]): Promise<PolicyStorm> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrent, maxFreeSockets: concurrent, keepAliveMsecs: 60_000 });
  try {
    await Promise.all(Array.from({ length: concurrent }, () => timedRequest(agent, t.server.url, 'GET', '/healthz')));
    // Limit-bounded policies start from a full key, so that every start of the storm is contended.
    const client = new HttpClient(t.server.url, 4);
    try {
      if (s.policy.startsWith('fail') || s.policy.startsWith('useExisting') || s.policy.startsWith('terminate')) {
        for (let i = 0; i < 3; i++) await client.start(s.orchestration, { fill: i });
      } else if (s.policy.startsWith('queue') || s.policy.startsWith('replace')) {
        await client.start(s.orchestration, { fill: 0 });
      }
    } finally {
      client.close();
    }
    const replies = await Promise.all(
      Array.from({ length: concurrent }, (_, i) => timedRequest(agent, t.server.url, 'POST', `${BASE}/orchestrators/${s.orchestration}${s.query}`, JSON.stringify({ i }))),
    );
    const statusCodes: Record<string, number> = {};
    for (const r of replies) statusCodes[String(r.status)] = (statusCodes[String(r.status)] ?? 0) + 1;
    const after = await counts(t, s.orchestration);
    return {
      policy: s.policy,
      orchestration: s.orchestration,
      latencyMs: summarize(replies.map((r) => r.ms)),
      statusCodes,
      holdersAfter: after.holders,
      queuedAfter: after.queued,
    };
  } finally {
    agent.destroy();
  }
}

/** Polls the instance row until `done` holds; the time it first did (ms since `from`). */
async function until(t: Target, id: string, done: (r: { runtime_status: string; history_length: number }) => boolean, from: number): Promise<number> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const { rows } = await t.db.query<{ runtime_status: string; history_length: number }>(`SELECT runtime_status, history_length FROM instances WHERE instance_id = $1`, [id]);
    if (rows[0] && done(rows[0])) return performance.now() - from;
    if (performance.now() > deadline) throw new Error(`instance ${id} never reached the state`);
    await sleep(1);
  }
}

/** The hand-off: `samples` queued instances behind one holder; release each holder in turn. */
async function handOff(t: Target, samples: number): Promise<ConcurrencyResult['handOff']> {
  const client = new HttpClient(t.server.url, 4);
  try {
    const ids: string[] = [];
    for (let i = 0; i <= samples; i++) ids.push(await client.start('BenchHandOff', { i }));
    const running = (r: { runtime_status: string; history_length: number }): boolean => r.runtime_status === 'Running' && r.history_length > 0;
    await until(t, ids[0] as string, running, performance.now());
    const handOffMs: number[] = [];
    const baselineMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      const holder = ids[i] as string;
      const next = ids[i + 1] as string;
      const from = performance.now();
      const raised = await client.request('POST', `${BASE}/instances/${holder}/raiseEvent/release`, '"go"');
      if (raised.status !== 202) throw new Error(`raise: HTTP ${raised.status}`);
      // Both watched from the same moment: the holder's end (baseline) and the next one's first turn.
      const [ended, handed] = await Promise.all([until(t, holder, (r) => r.runtime_status === 'Completed', from), until(t, next, running, from)]);
      baselineMs.push(ended);
      handOffMs.push(handed);
    }
    await client.request('POST', `${BASE}/instances/${ids[samples] as string}/terminate?reason=bench`);
    return { samples, handOffMs: summarize(handOffMs), baselineMs: summarize(baselineMs) };
  } finally {
    client.close();
  }
}

/** Waits until no turn is due (a storm's first turns have run), so the next storm does not share the cores with them. */
async function settle(t: Target): Promise<void> {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM instances WHERE wake_at IS NOT NULL AND wake_at <= now()`);
    if ((rows[0]?.n ?? 0) === 0) return;
    await sleep(50);
  }
}

export async function concurrencyBench(t: Target, concurrent: number, handOffSamples: number): Promise<ConcurrencyResult> {
  const storms: PolicyStorm[] = [];
  for (const s of STORMS) {
    await settle(t);
    storms.push(await storm(t, concurrent, s));
  }
  await settle(t);
  return { concurrentStarts: concurrent, storms, handOff: await handOff(t, handOffSamples) };
}

/** One line per figure, for the console. */
export function describeConcurrency(c: ConcurrencyResult): string[] {
  return [
    ...c.storms.map((s) => `concurrency ${s.policy}: p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, answers ${JSON.stringify(s.statusCodes)}, holders ${s.holdersAfter}, queued ${s.queuedAfter}`),
    `concurrency hand-off: p50 ${c.handOff.handOffMs.p50} ms, p99 ${c.handOff.handOffMs.p99} ms (holder's own end: p50 ${round(c.handOff.baselineMs.p50)} ms, p99 ${round(c.handOff.baselineMs.p99)} ms)`,
  ];
}

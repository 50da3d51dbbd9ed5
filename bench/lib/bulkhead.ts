/**
 * Bulkheads (issue 12): does one class of trouble stall the rest? On one fresh server:
 * - read flood: HelloSequence start → Completed p50 while 100 clients read a ~6,000-event history
 *   (showHistory + showHistoryOutput) in a loop, as a ratio of the same run's idle p50;
 * - hung slots: fan-out activities/s with a quarter of the activity slots held by activities that
 *   never resolve and ignore their signal, as a ratio of the same run's normal fan-outs (one before,
 *   one after);
 * - event loop: the worst /healthz answer time (a route with no I/O, so its latency is the server's
 *   event-loop delay plus one loopback round trip) while a 10,000-activity fan-out runs.
 */
import http from 'node:http';
import { BASE, HttpClient } from './http.ts';
import type { Target } from './engine.ts';
import { round, since, sleep, summarize, type LatencySummary } from './stats.ts';

export interface BulkheadResult {
  readFlood: {
    readers: number;
    historyEvents: number;
    runs: number;
    idleMs: LatencySummary;
    floodMs: LatencySummary;
    /** flood p50 / idle p50. */
    p50Ratio: number;
    readsPerSecond: number;
    readErrors: number;
  };
  hungSlots: {
    slots: number;
    hung: number;
    activities: number;
    /** Mean of the normal fan-outs before and after the hung one. */
    normalPerSecond: number;
    normalRuns: number[];
    hungPerSecond: number;
    /** hung / normal activities/s. */
    ratio: number;
  };
  eventLoop: {
    activities: number;
    probes: number;
    /** Worst /healthz time during the fan-out (ms). */
    worstHealthzMs: number;
    healthzMs: LatencySummary;
    idleHealthzMs: LatencySummary;
  };
}

export interface BulkheadPlan {
  runs: number;
  readers: number;
  /** FanOutFanIn count of the instance whose history is read (2 events per activity + turns). */
  historyCount: number;
  fanOut: number;
  slots: number;
  timeoutMs: number;
}

function get(agent: http.Agent, origin: string, path: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = http.request(new URL(path, origin), { agent, timeout: 60_000 }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: since(start) }));
      res.on('error', () => resolve({ status: -1, ms: since(start) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: -1, ms: since(start) }));
    req.end();
  });
}

async function helloRuns(client: HttpClient, runs: number, timeoutMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const id = await client.start('HelloSequence');
    const end = await client.waitTerminal(id, 2, timeoutMs);
    if (end?.runtimeStatus !== 'Completed') throw new Error(`HelloSequence ${id} ended ${end?.runtimeStatus ?? 'not in time'}`);
    out.push(since(start));
  }
  return out;
}

async function timedFanOut(client: HttpClient, count: number, timeoutMs: number): Promise<number> {
  const start = performance.now();
  const id = await client.start('FanOutFanIn', { count });
  const end = await client.waitTerminal(id, 20, timeoutMs);
  if (end?.runtimeStatus !== 'Completed') throw new Error(`FanOutFanIn(${count}) ended ${end?.runtimeStatus ?? 'not in time'}`);
  return count / (since(start) / 1000);
}

export async function bulkhead(t: Target, plan: BulkheadPlan): Promise<BulkheadResult> {
  const { server, db } = t;
  const client = new HttpClient(server.url, 4);
  const readAgent = new http.Agent({ keepAlive: true, maxSockets: plan.readers, maxFreeSockets: plan.readers });
  const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // The big history: a completed FanOutFanIn (TaskScheduled + TaskCompleted per activity).
    const bigId = await client.start('FanOutFanIn', { count: plan.historyCount });
    if ((await client.waitTerminal(bigId, 50, plan.timeoutMs))?.runtimeStatus !== 'Completed') throw new Error('the history instance did not complete');
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM history WHERE instance_id = $1', [bigId]);
    const historyEvents = rows[0]?.n ?? 0;

    await helloRuns(client, 3, plan.timeoutMs);
    const idle = await helloRuns(client, plan.runs, plan.timeoutMs);

    let reading = true;
    let reads = 0;
    let readErrors = 0;
    const path = `${BASE}/instances/${bigId}?showHistory=true&showHistoryOutput=true`;
    const readStart = performance.now();
    const readers = Array.from({ length: plan.readers }, async () => {
      while (reading) {
        const r = await get(readAgent, server.url, path);
        if (r.status === 200) reads++;
        else readErrors++;
      }
    });
    await sleep(500); // every reader is in its loop
    const flood = await helloRuns(client, plan.runs, plan.timeoutMs);
    reading = false;
    await Promise.all(readers);
    const readSeconds = since(readStart) / 1000;

    const idleProbes: number[] = [];
    for (let i = 0; i < 50; i++) idleProbes.push((await get(probeAgent, server.url, '/healthz')).ms);
    let probing = true;
    const probes: number[] = [];
    const prober = (async () => {
      while (probing) {
        probes.push((await get(probeAgent, server.url, '/healthz')).ms);
        await sleep(10);
      }
    })();
    const normalPerSecond = await timedFanOut(client, plan.fanOut, plan.timeoutMs);
    probing = false;
    await prober;

    const hung = Math.floor(plan.slots / 4);
    const hangIds: string[] = [];
    for (let i = 0; i < hung; i++) hangIds.push(await client.start('BenchHangs', { i }));
    for (const deadline = Date.now() + 30_000; ; ) {
      const { rows: active } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM taskhub_boss.job WHERE name = 'taskhub.activities' AND state = 'active'`,
      );
      if ((active[0]?.n ?? 0) >= hung) break;
      if (Date.now() > deadline) throw new Error(`only ${active[0]?.n} of ${hung} hung activities started`);
      await sleep(50);
    }
    const hungPerSecond = await timedFanOut(client, plan.fanOut, plan.timeoutMs);
    for (const id of hangIds) await client.request('POST', `${BASE}/instances/${id}/terminate?reason=bench-done`);
    // Normal again, after: the mean of the runs before and after cancels the drift of a database that
    // grows by 10,000 jobs and 20,000 history rows per fan-out.
    const normalAfter = await timedFanOut(client, plan.fanOut, plan.timeoutMs);
    const normalMean = (normalPerSecond + normalAfter) / 2;

    const idleP50 = summarize(idle).p50;
    return {
      readFlood: {
        readers: plan.readers,
        historyEvents,
        runs: plan.runs,
        idleMs: summarize(idle),
        floodMs: summarize(flood),
        p50Ratio: round(summarize(flood).p50 / idleP50, 2),
        readsPerSecond: round(reads / readSeconds, 1),
        readErrors,
      },
      hungSlots: {
        slots: plan.slots,
        hung,
        activities: plan.fanOut,
        normalPerSecond: round(normalMean, 1),
        normalRuns: [round(normalPerSecond, 1), round(normalAfter, 1)],
        hungPerSecond: round(hungPerSecond, 1),
        ratio: round(hungPerSecond / normalMean, 2),
      },
      eventLoop: {
        activities: plan.fanOut,
        probes: probes.length,
        worstHealthzMs: round(Math.max(...probes), 1),
        healthzMs: summarize(probes),
        idleHealthzMs: summarize(idleProbes),
      },
    };
  } finally {
    client.close();
    readAgent.destroy();
    probeAgent.destroy();
  }
}

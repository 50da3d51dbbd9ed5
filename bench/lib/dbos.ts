/** Runs the DBOS peer (bench/dbos/peer.ts) as a child process and summarizes what it measured. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { PeerRequest, PeerResult } from '../dbos/peer.ts';
import { ROOT } from './server.ts';
import type { CpuPerOp } from './cpu.ts';
import { round, summarize, type LatencySummary } from './stats.ts';

export interface DbosResult {
  version: string;
  settings: Record<string, unknown>;
  steps: { workflow: string; runs: number; warmup: number; clientMs: LatencySummary; serverMs: LatencySummary; cpu: CpuPerOp };
  /** Concurrent deduplicated starts (one deduplicationID on a queue), in-process: each call's latency. */
  dedup?: { concurrent: number; rounds: number; latencyMs: LatencySummary; startedPerRound: number[]; duplicatesRejected: number; otherErrors: number; cpu: CpuPerOp };
  fanOut:
    | { items: number; seconds: number; serverSeconds: number; itemsPerSecond: number; outputCorrect: boolean; peakRssMiB: number; cpu: CpuPerOp }
    | { items: number; error: string };
}

export async function runDbosPeer(request: PeerRequest, timeoutMs: number): Promise<DbosResult> {
  const args = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', '--disable-warning=DeprecationWarning', path.join('bench', 'dbos', 'peer.ts'), JSON.stringify(request)];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 100_000) err = err.slice(-50_000);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1)));
  clearTimeout(timer);
  const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (line === undefined) {
    throw new Error(`the DBOS peer (node ${args.slice(0, -1).join(' ')} '<request>') exited with ${code} and no result:\n${(err || out).slice(-2000)}`);
  }
  const peer = JSON.parse(line.slice('BENCH_RESULT '.length)) as PeerResult;
  const f = peer.fanOut;
  return {
    version: peer.dbosVersion,
    settings: peer.settings,
    steps: {
      workflow: 'three sequential steps (DBOS.runStep), DBOS.startWorkflow → handle.getResult()',
      runs: peer.steps.runs,
      warmup: peer.steps.warmup,
      clientMs: summarize(peer.steps.clientMs),
      serverMs: summarize(peer.steps.serverMs),
      cpu: peer.steps.cpu,
    },
    ...(peer.dedup
      ? {
          dedup: {
            concurrent: peer.dedup.concurrent,
            rounds: peer.dedup.rounds,
            latencyMs: summarize(peer.dedup.clientMs),
            startedPerRound: peer.dedup.startedPerRound,
            duplicatesRejected: peer.dedup.duplicatesRejected,
            otherErrors: peer.dedup.otherErrors,
            cpu: peer.dedup.cpu,
          },
        }
      : {}),
    fanOut:
      'error' in f
        ? f
        : {
            items: f.items,
            seconds: round(f.seconds, 3),
            serverSeconds: round(f.serverSeconds, 3),
            itemsPerSecond: round(f.items / f.seconds, 1),
            outputCorrect: f.outputCorrect,
            peakRssMiB: f.peakRssMiB,
            cpu: f.cpu,
          },
  };
}

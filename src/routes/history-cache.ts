/**
 * Big status reads made cheap. A terminal instance's history no longer changes (a rewind, restart
 * or purge changes the row it is keyed on), so its rendered status payload is kept and served again
 * after one cheap row read: measured on a 6,000-event history, rendering cost the event loop tens of
 * milliseconds per read, so 100 clients reading it in a loop kept the loop busy and HelloSequence went
 * from ~100 ms to 44 s. Reads with history are also gated: at most HISTORY_LOADS at once, so the
 * control plane's pool keeps connections for cheap reads and starts, and each is followed by a rest
 * (HISTORY_REST times its duration) before the next, so together they get a bounded share of the
 * process's time.
 */
import type { Instance } from '../orchestrator/core/instance.ts';

/** Rendered payloads kept, in bytes (UTF-8, ready to write to the socket). */
const MAX_BYTES = 64 * 1024 * 1024;
/** Largest single payload kept (a bigger one is rendered on each read). */
const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
/** History loads running at once; the rest queue here rather than in the database pool. */
export const HISTORY_LOADS = 1;
/**
 * After a read with history, the next one waits this many times as long as the read took: reads
 * with history get at most 1 / (1 + HISTORY_REST) of the process's time however many clients send
 * them (a quarter), and everything else the rest. The reply itself is not delayed, only the next read.
 */
export const HISTORY_REST = 3;
/** The longest rest after one read, so a dashboard's read never waits long behind a slow one. */
const MAX_REST_MS = 250;

export interface Rendered {
  code: number;
  /** UTF-8 JSON: encoded once, so a cached read is a socket write. */
  body: Buffer;
}

/** The cache key: everything the payload depends on (flags included). */
export function renderKey(row: Instance, flags: string): string {
  return [row.instanceId, row.executionId, row.historyLength, row.updatedAt.getTime(), row.runtimeStatus, flags].join('\u0000');
}

/** A least-recently-used map of rendered payloads, bounded by their total length. */
export class RenderedHistoryCache {
  private readonly entries = new Map<string, Rendered>();
  private units = 0;
  hits = 0;
  misses = 0;

  get(key: string): Rendered | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit;
  }

  set(key: string, value: Rendered): void {
    if (value.body.length > MAX_ENTRY_BYTES) return;
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.units -= old.body.length;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.units += value.body.length;
    for (const [k, v] of this.entries) {
      if (this.units <= MAX_BYTES) break;
      this.entries.delete(k);
      this.units -= v.body.length;
    }
  }
}

/** A counting semaphore: `run` waits for one of `size` places. */
export class Gate {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  /** Runs `fn` in a place; the place is handed on `rest` × its duration after `fn` ends (its result is not held back). */
  async run<T>(fn: () => Promise<T>, rest = 0): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    const started = performance.now();
    try {
      return await fn();
    } finally {
      const release = (): void => {
        const next = this.waiting.shift();
        if (next) next();
        else this.free++;
      };
      const pause = rest * (performance.now() - started);
      // Capped: a slow read (a big running history, a loaded machine) must not hold the next one for long.
      if (pause >= 1) setTimeout(release, Math.min(pause, MAX_REST_MS));
      else release();
    }
  }
}

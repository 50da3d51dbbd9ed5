/**
 * A small client of the control plane (the Durable Functions webhook routes) that never throws: a
 * network failure (a killed API process, a reset connection) is a reply with status 0, so load
 * loops can count it instead of dying on it.
 */
import http from 'node:http';

export const BASE_PATH = '/runtime/webhooks/durabletask';

export interface Reply {
  /** HTTP status, or 0 when no response arrived (connection refused/reset, timeout). */
  status: number;
  text: string;
  headers: Headers;
  /** The network error, when status is 0. */
  error?: string;
  ms: number;
}

export interface RequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export async function send(url: string, options: RequestOptions = {}): Promise<Reply> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: options.method ?? 'GET',
      body: options.body,
      headers: options.headers,
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await response.text();
    return { status: response.status, text, headers: response.headers, ms: performance.now() - started };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    return { status: 0, text: '', headers: new Headers(), error: e.cause?.code ?? e.cause?.message ?? e.message, ms: performance.now() - started };
  }
}

export function json<T = unknown>(reply: Reply): T | undefined {
  try {
    return JSON.parse(reply.text) as T;
  } catch {
    return undefined;
  }
}

const enc = encodeURIComponent;

/** The control plane of one API process. */
export class Api {
  base: string;
  readonly key: string | undefined;

  constructor(origin: string, key?: string) {
    this.base = `${origin.replace(/\/$/, '')}${BASE_PATH}`;
    this.key = key;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.key ? { 'x-functions-key': this.key } : {}), ...extra };
  }

  /** POST orchestrators/{name}[/{id}] with a JSON input. */
  start(name: string, input?: unknown, options: { instanceId?: string; query?: string; timeoutMs?: number } = {}): Promise<Reply> {
    const path = options.instanceId === undefined ? `/orchestrators/${enc(name)}` : `/orchestrators/${enc(name)}/${enc(options.instanceId)}`;
    return send(`${this.base}${path}${options.query ? `?${options.query}` : ''}`, {
      method: 'POST',
      body: input === undefined ? undefined : JSON.stringify(input),
      headers: this.headers({ 'content-type': 'application/json' }),
      timeoutMs: options.timeoutMs,
    });
  }

  raise(instanceId: string, event: string, payload: string): Promise<Reply> {
    return send(`${this.base}/instances/${enc(instanceId)}/raiseEvent/${enc(event)}`, {
      method: 'POST',
      body: payload,
      headers: this.headers({ 'content-type': 'application/json' }),
    });
  }

  action(instanceId: string, action: 'terminate' | 'suspend' | 'resume' | 'rewind', reason = 'reliability'): Promise<Reply> {
    return send(`${this.base}/instances/${enc(instanceId)}/${action}?reason=${enc(reason)}`, { method: 'POST', headers: this.headers() });
  }

  status(instanceId: string, query = ''): Promise<Reply> {
    return send(`${this.base}/instances/${enc(instanceId)}${query ? `?${query}` : ''}`, { headers: this.headers() });
  }

  list(query = ''): Promise<Reply> {
    return send(`${this.base}/instances${query ? `?${query}` : ''}`, { headers: this.headers() });
  }

  purge(instanceId: string): Promise<Reply> {
    return send(`${this.base}/instances/${enc(instanceId)}`, { method: 'DELETE', headers: this.headers() });
  }
}

/** Runs `worker` over `items` with at most `concurrency` at once. */
export async function pool<T, R>(items: readonly T[], concurrency: number, worker: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        results[i] = await worker(items[i] as T, i);
      }
    }),
  );
  return results;
}

/** A POST whose body is sent chunked (no Content-Length), in pieces of `chunk` bytes. */
export function sendChunked(url: string, body: Buffer, headers: Record<string, string> = {}, chunk = 512): Promise<Reply> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let text = '';
    const done = (reply: Omit<Reply, 'ms'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...reply, ms: performance.now() - started });
    };
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' }, timeout: 30_000 }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        done({ status, text, headers: h });
      });
      res.on('error', () => done({ status, text, headers: new Headers() }));
    });
    // A server that answers 413 early may close the socket while the body is still going out: the
    // answer, when it came, counts.
    req.on('error', (err: NodeJS.ErrnoException) =>
      setTimeout(() => done({ status, text, headers: new Headers(), ...(status === 0 ? { error: err.code ?? err.message } : {}) }), 50),
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    for (let offset = 0; offset < body.length; offset += chunk) req.write(body.subarray(offset, offset + chunk));
    req.end();
  });
}

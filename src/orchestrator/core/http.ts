/**
 * Durable HTTP (`context.df.callHttp`), as Durable Functions offers it: the request runs as the
 * built-in activity `BuiltIn::HttpActivity` (history records TaskScheduled with that name and the
 * request as its input, then TaskCompleted with the response), so a crash redelivers it like any
 * activity. With the asynchronous pattern (the default, as in v3), a 202 answer with a Location
 * header is polled: a durable timer for Retry-After (else DF's default of 30 s), then a GET of the
 * Location, until an answer that is not 202 — every step in history, so a restart between polls
 * loses nothing. A non-2xx answer is a response, not an error; a failed request (network, timeout,
 * size) fails the task, and the orchestrator can catch it. Pure: the I/O is the activity's
 * (src/activities/http-activity.ts); time is the turn's.
 */
import { TaskFailedError } from './failures.ts';
import { type AtomicTask, SequenceTask, type Task, TimerTask } from './tasks.ts';

/** The built-in activity's name, Durable Functions' own (`HttpOptions.HttpTaskActivityReservedName`). */
export const HTTP_ACTIVITY = 'BuiltIn::HttpActivity';

/** Between polls when a 202 has no Retry-After: Durable Functions' `DefaultAsyncRequestSleepTimeMilliseconds`. */
export const DEFAULT_POLL_INTERVAL_MS = 30_000;

/** Headers in Durable Functions' shape: a name maps to one value or several. */
export type HttpHeaders = Record<string, string | string[]>;

/**
 * Where a bearer token for the request comes from, by description only (the token itself is never
 * recorded): `ManagedIdentityTokenSource` of the drop-in module is one. Outside Azure a token
 * provider registered with `registry.httpTokenProvider(fn)` answers it, in the activity, at request
 * time; without one the request fails with NotSupportedError.
 */
export interface TokenSource {
  readonly kind?: string;
  readonly resource: string;
}

/** `context.df.callHttp`'s options: durable-functions v3's CallHttpOptions, plus `timeout`. */
export interface CallHttpOptions {
  method: string;
  /** An absolute http:// or https:// URL. */
  url: string;
  /** A string is sent as is; another value as its JSON (as v3 does). */
  body?: unknown;
  headers?: HttpHeaders;
  tokenSource?: TokenSource;
  /** Poll a 202 + Location answer until it is done (default true). Wins over `asynchronousPatternEnabled`. */
  enablePolling?: boolean;
  /** v3's older name of `enablePolling`. */
  asynchronousPatternEnabled?: boolean;
  /**
   * Milliseconds for the request and all of its polling (as Durable Functions' `Timeout`): each
   * request may take what is left; a poll that would come later fails the task with a TimeoutError.
   */
  timeout?: number;
}

/** The built-in activity's input, as Durable Functions serialises its DurableHttpRequest. */
export interface DurableHttpRequest {
  method: string;
  uri: string;
  headers?: HttpHeaders | undefined;
  content?: string | undefined;
  tokenSource?: { kind: string; resource: string } | undefined;
  asynchronousPatternEnabled: boolean;
  /** Milliseconds this request may take (what is left of the call's timeout). */
  timeout?: number | undefined;
}

/** An answer as the built-in activity records it (TaskCompleted's payload). */
export interface HttpAnswer {
  statusCode: number;
  headers: HttpHeaders;
  content: string | undefined;
}

/** An HTTP answer: its status, headers (lower-case names) and body text. */
export class DurableHttpResponse implements HttpAnswer {
  statusCode: number;
  headers: HttpHeaders;
  content: string | undefined;
  constructor(statusCode: number, headers: HttpHeaders = {}, content?: string) {
    this.statusCode = statusCode;
    this.headers = headers;
    this.content = content;
  }

  /** A header's value, case-insensitively (several values joined by ", "), as v3's getHeader. */
  getHeader(name: string): string | undefined {
    const wanted = name.toLowerCase();
    const key = Object.keys(this.headers).find((k) => k.toLowerCase() === wanted);
    const value = key === undefined ? undefined : this.headers[key];
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function problem(message: string): TypeError {
  return new TypeError(`callHttp: ${message}`);
}

function checkUrl(text: unknown, what: string): URL {
  if (typeof text !== 'string' || text === '') throw problem(`${what} must be an absolute http:// or https:// URL, got ${JSON.stringify(text)}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw problem(`${what} must be an absolute http:// or https:// URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw problem(`${what} must use http:// or https://, got ${JSON.stringify(text)}`);
  return url;
}

function checkHeaders(headers: unknown): HttpHeaders | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (typeof headers !== 'object' || Array.isArray(headers)) throw problem('headers must be an object of header names to a string or an array of strings');
  const out: HttpHeaders = {};
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (!TOKEN.test(name)) throw problem(`'${name}' is not a valid header name`);
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === 'string')) throw problem(`header '${name}' must be a string or an array of strings`);
    out[name] = Array.isArray(value) ? [...(value as string[])] : (value as string);
  }
  return out;
}

/** Checks a callHttp call and builds its first request; throws (into the orchestrator) a TypeError naming what is wrong. */
export function httpRequest(options: CallHttpOptions): { request: DurableHttpRequest; polling: boolean; timeoutMs: number | undefined } {
  if (options === null || typeof options !== 'object') throw problem('needs an options object { method, url, body?, headers? }');
  const { method, url, body, timeout, tokenSource } = options;
  if (typeof method !== 'string' || !TOKEN.test(method)) throw problem(`method must be an HTTP method such as 'GET' or 'POST', got ${JSON.stringify(method)}`);
  checkUrl(url, 'url');
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout > 0)) {
    throw problem(`timeout must be a positive number of milliseconds, got ${JSON.stringify(timeout)}`);
  }
  if (tokenSource !== undefined && tokenSource !== null && (typeof tokenSource !== 'object' || typeof tokenSource.resource !== 'string')) {
    throw problem('tokenSource must be an object with a resource string (e.g. a ManagedIdentityTokenSource)');
  }
  // As v3: a string body is sent as is, any other (truthy) value as its JSON.
  const content = body === undefined || body === null || body === '' ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const polling = options.enablePolling ?? options.asynchronousPatternEnabled ?? true;
  const request: DurableHttpRequest = {
    method,
    uri: url,
    headers: checkHeaders(options.headers),
    content,
    tokenSource: tokenSource ? { kind: tokenSource.kind ?? 'AzureManagedIdentity', resource: tokenSource.resource } : undefined,
    asynchronousPatternEnabled: polling !== false,
    timeout,
  };
  return { request, polling: polling !== false, timeoutMs: timeout };
}

/** The delay a 202's Retry-After asks for: delta-seconds or an HTTP date; DF's default when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: Date): number {
  if (value === undefined || value.trim() === '') return DEFAULT_POLL_INTERVAL_MS;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? DEFAULT_POLL_INTERVAL_MS : Math.max(0, at - now.getTime());
}

/** What the polling task needs from the executor: the turn's time, a request (the built-in activity), a timer. */
export interface HttpScheduler {
  now(): Date;
  request(request: DurableHttpRequest): AtomicTask;
  createTimer(fireAt: Date): TimerTask;
}

function toResponse(value: unknown): DurableHttpResponse {
  const v = (value ?? {}) as { statusCode?: unknown; headers?: unknown; content?: unknown };
  return new DurableHttpResponse(
    typeof v.statusCode === 'number' ? v.statusCode : 0,
    v.headers !== null && typeof v.headers === 'object' ? (v.headers as HttpHeaders) : {},
    typeof v.content === 'string' ? v.content : undefined,
  );
}

/**
 * One callHttp call: the request, then — while the answer is 202 with a Location and polling is
 * on — a durable timer and a GET of the Location, each a child task recorded in history. Completes
 * with the first answer that is not such a 202; fails with a failed request, or with a TimeoutError
 * when the next poll would come after the call's timeout.
 */
export class CallHttpTask extends SequenceTask<DurableHttpResponse> {
  private readonly request: DurableHttpRequest;
  private readonly polling: boolean;
  private readonly scheduler: HttpScheduler;
  /** Epoch ms after which no request starts (the call's timeout), or undefined. */
  private readonly deadline: number | undefined;
  private next: DurableHttpRequest | undefined;
  /** Requests made so far (the first and each poll). */
  requests = 1;

  constructor(request: DurableHttpRequest, polling: boolean, timeoutMs: number | undefined, scheduler: HttpScheduler) {
    super([scheduler.request(request)]);
    this.request = request;
    this.polling = polling;
    this.scheduler = scheduler;
    this.deadline = timeoutMs === undefined ? undefined : scheduler.now().getTime() + timeoutMs;
  }

  onChildSettled(child: Task): void {
    if (this.isCompleted) return;
    if (child instanceof TimerTask) {
      this.requests++;
      this.adopt(this.scheduler.request(this.next as DurableHttpRequest));
      return;
    }
    if (child.isFaulted) {
      this.fault(child.exception as Error);
      return;
    }
    const response = toResponse(child.result);
    const location = response.getHeader('Location');
    if (!this.polling || response.statusCode !== 202 || location === undefined || location === '') {
      this.settle(response);
      return;
    }
    this.pollAfter(response, location);
  }

  /** Schedules the timer before the next GET of `location`, or fails when it would pass the timeout. */
  private pollAfter(response: DurableHttpResponse, location: string): void {
    const now = this.scheduler.now();
    const last = this.next ?? this.request;
    let uri: string;
    try {
      uri = new URL(location, last.uri).toString();
      checkUrl(uri, 'the Location of a 202 answer');
    } catch (err) {
      this.fault(this.failure('InvalidLocation', (err as Error).message));
      return;
    }
    const fireAt = now.getTime() + retryAfterMs(response.getHeader('Retry-After'), now);
    if (this.deadline !== undefined && fireAt >= this.deadline) {
      const timeout = this.request.timeout as number;
      this.fault(this.failure('TimeoutError', `${this.request.method} ${this.request.uri} was still 202 Accepted after ${this.requests} requests; the next poll would pass the timeout of ${timeout} ms`));
      return;
    }
    // Durable Functions' poll: a GET of the Location with the first request's headers (except the
    // Functions key, which a status endpoint does not take), token source and what is left of the timeout.
    const headers = this.request.headers === undefined ? undefined : { ...this.request.headers };
    if (headers) for (const name of Object.keys(headers)) if (name.toLowerCase() === 'x-functions-key') delete headers[name];
    this.next = {
      method: 'GET',
      uri,
      headers,
      tokenSource: this.request.tokenSource,
      asynchronousPatternEnabled: true,
      timeout: this.deadline === undefined ? undefined : this.deadline - fireAt,
    };
    let timer: TimerTask;
    try {
      timer = this.scheduler.createTimer(new Date(fireAt));
    } catch (err) {
      // A Retry-After no durable timer can hold (years past 9999): the task fails, not the turn.
      if (!(err instanceof RangeError || err instanceof TypeError)) throw err; // a limit crossed: the executor fails the execution
      this.fault(this.failure('InvalidRetryAfter', `the 202 answer of ${last.method} ${last.uri} asks to wait until a time a durable timer cannot hold: ${err.message}`));
      return;
    }
    this.adopt(timer);
  }

  private failure(type: string, message: string): TaskFailedError {
    return new TaskFailedError(HTTP_ACTIVITY, { type, message, nonRetryable: true });
  }
}

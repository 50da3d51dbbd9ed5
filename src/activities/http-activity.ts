/**
 * The built-in activity behind `context.df.callHttp` (Durable Functions' BuiltIn::HttpActivity):
 * sends one DurableHttpRequest and answers a DurableHttpResponse. Any status is an answer; what
 * fails the task is a request that could not be made: a network error, no answer within its
 * timeout, a host outside TASKHUB_HTTP_ALLOWED_HOSTS, a response over TASKHUB_MAX_PAYLOAD_BYTES, a
 * token source nobody answers. Redirects are followed here, hop by hop, so that each hop's host is
 * checked against the allow-list (fetch's own following would not show them).
 */
import type { ActivityContext, ActivityFunction } from '../orchestrator/core/activity-context.ts';
import type { DurableHttpRequest, HttpAnswer, HttpHeaders } from '../orchestrator/core/http.ts';
import { HTTP_ACTIVITY } from '../orchestrator/core/http.ts';
import type { HttpTokenProvider, RegisteredActivity, Registry } from '../orchestrator/registry.ts';

export interface HttpActivityOptions {
  /** Largest response (its JSON: status, headers, content) recorded in history. */
  maxPayloadBytes: number;
  /** Hosts requests may go to (`host`, `host:port`, `*.domain`); undefined: any. */
  allowedHosts: readonly string[] | undefined;
  /** How long one request may take at most (its own timeout, when shorter, wins). */
  defaultTimeoutMs: number;
  /** Answers a request's tokenSource with a bearer token (registry.httpTokenProvider). */
  tokenProvider: () => HttpTokenProvider | undefined;
}

/** Redirect hops followed, as browsers and .NET's HttpClient cap them. */
const MAX_REDIRECTS = 20;

/** A failure of the request itself (not an HTTP status): its type is what the orchestrator sees. */
class HttpFailure extends Error {
  readonly nonRetryable: boolean;
  constructor(type: string, message: string, nonRetryable = false) {
    super(message);
    this.name = type;
    this.nonRetryable = nonRetryable;
  }
}

/** Whether `url`'s host is allowed by the list (exact host, host:port, or a `*.` suffix). */
export function hostAllowed(url: URL, allowed: readonly string[] | undefined): boolean {
  if (allowed === undefined) return true;
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowed.some((entry) => {
    // host, host:port, *.domain[:port], [ipv6][:port], or * (any host)
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry.trim().toLowerCase());
    if (match === null) return false;
    const [, pattern = '', wantedPort] = match;
    if (wantedPort !== undefined && wantedPort !== port) return false;
    if (pattern === '*') return true;
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
    return host === pattern;
  });
}

function checkTarget(url: URL, options: HttpActivityOptions, what: string): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpFailure('InvalidUrl', `${what} ${url.href} is not http:// or https://`, true);
  if (!hostAllowed(url, options.allowedHosts)) {
    throw new HttpFailure('HttpHostNotAllowed', `${what} ${url.href}: host '${url.host}' is not in TASKHUB_HTTP_ALLOWED_HOSTS`, true);
  }
}

async function requestHeaders(request: DurableHttpRequest, options: HttpActivityOptions, context: ActivityContext): Promise<Headers> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  // As Durable Functions: content without a Content-Type is text/plain.
  if (request.content !== undefined && !headers.has('content-type')) headers.set('content-type', 'text/plain');
  if (request.tokenSource !== undefined) {
    const provider = options.tokenProvider();
    if (provider === undefined) {
      throw new HttpFailure(
        'NotSupportedError',
        `a tokenSource (${request.tokenSource.kind} for '${request.tokenSource.resource}') has no meaning outside Azure: ` +
          'register a token provider (registry.httpTokenProvider(async ({ resource }) => token)) or send an Authorization header',
        true,
      );
    }
    const token = await provider({ ...request.tokenSource, url: request.uri, signal: context.signal });
    if (typeof token !== 'string' || token === '') throw new HttpFailure('TokenProviderError', `the token provider gave no token for '${request.tokenSource.resource}'`, true);
    headers.set('authorization', `Bearer ${token}`);
  }
  return headers;
}

/** The response's headers in Durable Functions' shape: one string each, several Set-Cookie values as an array. */
function responseHeaders(headers: Headers): HttpHeaders {
  const out: HttpHeaders = {};
  headers.forEach((value, name) => (out[name] = value));
  const cookies = headers.getSetCookie();
  if (cookies.length > 1) out['set-cookie'] = cookies;
  return out;
}

/** Reads the body as UTF-8 text, failing as soon as it passes `limit` bytes. */
async function readBody(response: Response, limit: number, what: string): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > limit) {
      await response.body.cancel().catch(() => undefined);
      throw new HttpFailure('PayloadLimitExceeded', `the response of ${what} is over ${limit} bytes, the limit (TASKHUB_MAX_PAYLOAD_BYTES)`, true);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeError(err: unknown): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  return e.cause?.message ?? e.cause?.code ?? e.message ?? String(err);
}

/** The built-in activity, configured. */
export function httpActivity(options: HttpActivityOptions): (request: DurableHttpRequest, context: ActivityContext) => Promise<HttpAnswer> {
  return async (request, context) => {
    if (request === null || typeof request !== 'object' || typeof request.uri !== 'string' || typeof request.method !== 'string') {
      throw new HttpFailure('InvalidRequest', 'the BuiltIn::HttpActivity input is not a DurableHttpRequest', true);
    }
    const what = `${request.method} ${request.uri}`;
    const timeoutMs = Math.max(1, Math.round(Math.min(request.timeout ?? options.defaultTimeoutMs, options.defaultTimeoutMs)));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new HttpFailure('TimeoutError', `${what} did not answer within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => abort.abort(context.signal.reason);
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      let url = new URL(request.uri);
      let method = request.method;
      let body = request.content;
      const headers = await requestHeaders(request, options, context);
      for (let hop = 0; ; hop++) {
        checkTarget(url, options, hop === 0 ? 'the request to' : 'a redirect to');
        let response: Response;
        try {
          response = await fetch(url, { method, headers, body, redirect: 'manual', signal: abort.signal });
        } catch (err) {
          if (abort.signal.aborted) throw abort.signal.reason;
          throw new HttpFailure('HttpRequestError', `${what} failed: ${describeError(err)}`);
        }
        const location = response.headers.get('location');
        if ([301, 302, 303, 307, 308].includes(response.status) && location !== null && hop < MAX_REDIRECTS) {
          await response.body?.cancel().catch(() => undefined);
          url = new URL(location, url);
          // 303, and 301/302 after a POST, become a GET without a body (as browsers and HttpClient do).
          if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
            method = 'GET';
            body = undefined;
            headers.delete('content-type');
          }
          continue;
        }
        const content = await readBody(response, options.maxPayloadBytes, what).catch((err: unknown) => {
          if (abort.signal.aborted) throw abort.signal.reason;
          throw err instanceof HttpFailure ? err : new HttpFailure('HttpRequestError', `${what} failed while reading the response: ${describeError(err)}`);
        });
        const answer: HttpAnswer = { statusCode: response.status, headers: responseHeaders(response.headers), content };
        const size = Buffer.byteLength(JSON.stringify(answer));
        if (size > options.maxPayloadBytes) {
          throw new HttpFailure('PayloadLimitExceeded', `the response of ${what} is ${size} bytes of JSON, over the limit of ${options.maxPayloadBytes} (TASKHUB_MAX_PAYLOAD_BYTES)`, true);
        }
        return answer;
      }
    } finally {
      clearTimeout(timer);
      context.signal.removeEventListener('abort', onAbort);
    }
  };
}

/**
 * BuiltIn::HttpActivity as the worker runs it: under the activity timeout like any activity, each
 * request given a second less, so that its own TimeoutError (naming the request) comes first.
 */
export function httpBuiltIn(settings: {
  maxPayloadBytes: number;
  allowedHosts: readonly string[] | undefined;
  activityTimeoutSeconds: number;
  registry: Registry;
}): RegisteredActivity {
  const fn = httpActivity({
    maxPayloadBytes: settings.maxPayloadBytes,
    allowedHosts: settings.allowedHosts,
    defaultTimeoutMs: Math.max(1000, settings.activityTimeoutSeconds * 1000 - 1000),
    tokenProvider: () => settings.registry.getHttpTokenProvider(),
  });
  return { name: HTTP_ACTIVITY, fn: fn as ActivityFunction, options: { description: 'context.df.callHttp' } };
}

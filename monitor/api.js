// The control plane, as the monitor uses it: every read and action is a public API call, with the
// key (when one is configured) from sessionStorage in the x-functions-key header, never in a URL.

const KEY = 'pg-taskhub.key';
const HUB = 'pg-taskhub.hub';

export class Unauthorized extends Error {
  constructor() {
    super('The service needs its key.');
    this.name = 'Unauthorized';
  }
}

export class Api {
  constructor(base) {
    this.base = base;
  }

  get key() {
    return sessionStorage.getItem(KEY);
  }

  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  }

  /** The task hub every call acts on (sent as taskHub); null: the service's default hub. Kept for this tab. */
  get hub() {
    return sessionStorage.getItem(HUB);
  }

  set hub(value) {
    if (value) sessionStorage.setItem(HUB, value);
    else sessionStorage.removeItem(HUB);
  }

  /** The URL of a path under the control plane, with query parameters (arrays repeat) and the selected hub. */
  url(path, query = {}, withHub = true) {
    const url = new URL(this.base + path, location.origin);
    if (withHub && this.hub) url.searchParams.set('taskHub', this.hub);
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === '') continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
    }
    return url.pathname + url.search;
  }

  /**
   * One request. Resolves with { status, ok, headers, body } for any answer but 401 (body: parsed
   * JSON, text, or null when empty); a 401 throws Unauthorized.
   */
  async request(method, path, { query, body, headers = {}, withHub = true } = {}) {
    const h = { accept: 'application/json', ...headers };
    if (this.key) h['x-functions-key'] = this.key;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(this.url(path, query, withHub), { method, headers: h, body, cache: 'no-store' });
    if (res.status === 401) throw new Unauthorized();
    const text = await res.text();
    let parsed = null;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, ok: res.ok, headers: res.headers, body: parsed, statusText: res.statusText };
  }

  async get(path, query) {
    const res = await this.request('GET', path, { query });
    if (!res.ok && res.status !== 202) throw new Error(describe(res));
    return res;
  }
}

/** "409 Conflict: An Orchestration instance…": an answer as one line. */
export function describe(res) {
  const message = res.body && typeof res.body === 'object' ? res.body.Message : typeof res.body === 'string' ? res.body : '';
  return `${res.status}${res.statusText ? ` ${res.statusText}` : ''}${message ? `: ${message}` : ''}`;
}

/**
 * Concurrency control of starts (issue 14), the pure part: the registration options, the start
 * policies, which policy a start follows, and what an instance waits for. The decisions themselves
 * are made by PostgreSQL (store/instances.ts START_LIMITED, store/concurrency.ts and the triggers of
 * migrations/0006_concurrency.sql); this file only says which statement a start runs.
 */

/**
 * What a start does when its key has no free slot (or, for `debounce`, always):
 * - fail: refused (409 naming the oldest active instance), the default;
 * - useExisting: answered with the oldest active instance of the key;
 * - terminateExisting: the oldest active instance of the key is terminated, the start takes its slot;
 * - queue: accepted, the instance waits (Pending) until a slot of its key frees, first in first out;
 * - replaceQueued: as queue, but at most one waits per key: a newer start replaces the waiting one;
 * - debounce: starts of one key within the window collapse into one instance, with the last input.
 */
export const START_POLICIES = ['fail', 'useExisting', 'terminateExisting', 'queue', 'replaceQueued', 'debounce'] as const;
export type OnConflict = (typeof START_POLICIES)[number];

export interface ConcurrencyOptions {
  /** At most this many active instances per key (1 … 1000). */
  limit: number;
  /** The key of a start's input (default: one key per orchestration name). */
  key?: (input: unknown) => string;
}

export interface DebounceOptions {
  /** A start waits this long for a newer start of its key (which replaces its input and restarts the wait). */
  seconds: number;
  /** …but never longer than this after the first start of the burst (default: no cap beyond a day). */
  maxWaitSeconds?: number;
}

/** The concurrency of one orchestration as the start path uses it. */
export interface Concurrency {
  /** Slots per key; undefined: no limit (debounce only). */
  limit: number | undefined;
  /** The default policy of a start that names none. */
  onConflict: OnConflict;
  debounce: { seconds: number; maxWaitSeconds: number } | undefined;
}

export const MAX_LIMIT = 1000;
const MAX_DEBOUNCE_SECONDS = 86_400;

/** Why these options cannot be registered (undefined: they can). */
export function concurrencyProblem(o: {
  singleton?: unknown;
  concurrency?: ConcurrencyOptions | undefined;
  onConflict?: string | undefined;
  debounce?: DebounceOptions | undefined;
}): string | undefined {
  const c = o.concurrency;
  if (c !== undefined) {
    if (o.singleton !== undefined && o.singleton !== false) return 'singleton and concurrency are two ways to say one thing: use one (singleton: true is concurrency: { limit: 1 })';
    if (!Number.isInteger(c.limit) || c.limit < 1 || c.limit > MAX_LIMIT) return `concurrency.limit must be an integer from 1 to ${MAX_LIMIT}, got ${String(c.limit)}`;
    if (c.key !== undefined && typeof c.key !== 'function') return 'concurrency.key must be a function of the input';
  }
  if (o.onConflict !== undefined && !(START_POLICIES as readonly string[]).includes(o.onConflict)) {
    return `onConflict must be one of ${START_POLICIES.join(', ')}, got '${o.onConflict}'`;
  }
  const d = o.debounce;
  if (d !== undefined) {
    if (!(Number.isFinite(d.seconds) && d.seconds > 0 && d.seconds <= MAX_DEBOUNCE_SECONDS)) return `debounce.seconds must be a number of seconds from 0 to ${MAX_DEBOUNCE_SECONDS}`;
    const max = d.maxWaitSeconds;
    if (max !== undefined && !(Number.isFinite(max) && max >= d.seconds && max <= MAX_DEBOUNCE_SECONDS)) {
      return `debounce.maxWaitSeconds must be at least debounce.seconds and at most ${MAX_DEBOUNCE_SECONDS}`;
    }
  }
  if (o.onConflict === 'debounce' && d === undefined) return "onConflict 'debounce' needs the debounce option ({ seconds, maxWaitSeconds })";
  return undefined;
}

/** Why a start cannot follow `policy` for an orchestration with `c` (undefined: it can). */
export function policyProblem(name: string, c: Concurrency | undefined, policy: OnConflict): string | undefined {
  if ((policy === 'queue' || policy === 'replaceQueued') && c?.limit === undefined) {
    return `onConflict=${policy} needs a concurrency limit: '${name}' has no singleton or concurrency option`;
  }
  if (policy === 'debounce' && c?.debounce === undefined) return `onConflict=debounce needs the debounce option: '${name}' has none`;
  return undefined;
}

/**
 * The policy of a sub-orchestration start. A parent waits for one particular child, so a child never
 * collapses into another parent's child: `queue`, `replaceQueued` and `debounce` make the child wait
 * in its key's queue; any other policy fails the child's task when its key is full (as a singleton
 * child always did). A schedule tick follows its orchestration's policy except debounce (a tick is
 * one start, not a burst): see Scheduler.
 */
export function childPolicy(c: Concurrency | undefined): OnConflict {
  const p = c?.onConflict ?? 'fail';
  return p === 'queue' || p === 'replaceQueued' || p === 'debounce' ? (c?.limit === undefined ? 'fail' : 'queue') : 'fail';
}

/** Why an instance is Pending and not running (the status payload's `waiting` field). */
export type Waiting =
  | { reason: 'concurrency'; key: string | null; position: number }
  | { reason: 'debounce'; key: string | null; startsAt: string };

/**
 * The user's part of a stored key: a keyed orchestration stores JSON [name, key], a per-name one its
 * name (then the key is null).
 */
export function displayKey(stored: string): string | null {
  if (!stored.startsWith('[')) return null;
  try {
    const parsed = JSON.parse(stored) as unknown;
    return Array.isArray(parsed) && typeof parsed[1] === 'string' ? parsed[1] : null;
  } catch {
    return null;
  }
}

/**
 * The system key: when one is configured, every control-plane request must present it, in the
 * `x-functions-key` header (which wins) or the `code` query parameter. Pure.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The key a request presents: the header when it is there (even if wrong), else `code`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>, query: Record<string, string | string[] | undefined>): string | undefined {
  const header = first(headers['x-functions-key']);
  return header !== undefined ? header : first(query.code);
}

/** Compares in constant time: both sides are hashed to the same length first. */
export function keyMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(presented, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Continuation tokens of instance listings: an opaque, URL-safe wrapping of the keyset cursor
 * (created time to the microsecond, instance id) after which the next page starts. Keyset paging
 * is stable under concurrent inserts. Anything that does not decode to a plausible cursor is a 400
 * here, before it can reach SQL. Pure.
 */
import { ApiError } from './api-error.ts';
import type { Cursor } from '../orchestrator/core/instance.ts';

const VERSION = 1;
const MAX_TOKEN_LENGTH = 2048;
const CREATED_KEY = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify({ v: VERSION, c: cursor.createdAt, i: cursor.instanceId }), 'utf8').toString('base64url');
}

function invalid(): ApiError {
  return new ApiError('INVALID_CONTINUATION_TOKEN', 'The continuation token is invalid. Use the x-ms-continuation-token of a previous response, unchanged.');
}

function plausibleTime(text: string): boolean {
  const m = CREATED_KEY.exec(text);
  if (!m || Number(m[1]) < 1) return false;
  // Round-trips only for real dates (no 2024-02-30, no hour 25).
  const millis = `${text.slice(0, 23)}Z`;
  const parsed = new Date(millis);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString() === millis;
}

/** The JSON object a token wraps; undefined for no token (absent or empty); a 400 for anything that is not one of ours. */
function unwrap(token: string | undefined): Record<string, unknown> | undefined {
  if (token === undefined || token.trim() === '') return undefined;
  const text = token.trim();
  if (text.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) throw invalid();
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (parsed === null || typeof parsed !== 'object') throw invalid();
    return parsed as Record<string, unknown>;
  } catch {
    throw invalid();
  }
}

/** The cursor of a token; undefined for no token (absent or empty: the first page). */
export function decodeToken(token: string | undefined): Cursor | undefined {
  const parsed = unwrap(token);
  if (parsed === undefined) return undefined;
  const { v, c, i } = parsed;
  if (v !== VERSION || typeof c !== 'string' || typeof i !== 'string') throw invalid();
  // Any id the table can hold (sub-orchestration ids are made by the engine, not checked like ours).
  if (!plausibleTime(c) || i === '' || [...i].length > 256 || i.includes('\u0000')) throw invalid();
  return { createdAt: c, instanceId: i };
}

/** Entity listings page by entity id (name, then key): the token wraps the last id of a page. */
export function encodeEntityToken(entityInstanceId: string): string {
  return Buffer.from(JSON.stringify({ v: VERSION, e: entityInstanceId }), 'utf8').toString('base64url');
}

/** The entity id after which the next page starts; undefined for no token. A forged token is a 400. */
export function decodeEntityToken(token: string | undefined): string | undefined {
  const parsed = unwrap(token);
  if (parsed === undefined) return undefined;
  const { v, e } = parsed;
  if (v !== VERSION || typeof e !== 'string' || !/^@[^@]+@/.test(e) || [...e].length > 256 || e.includes('\u0000')) throw invalid();
  return e;
}

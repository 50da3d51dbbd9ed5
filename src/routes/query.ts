/**
 * Query parameters as Durable Functions reads them: names case-insensitive, lenient booleans,
 * runtimeStatus lists, ISO dates. Pure.
 */
import { ApiError } from './api-error.ts';
import { parseStatus, RUNTIME_STATUSES, type RuntimeStatus } from '../orchestrator/core/statuses.ts';

/** Every query parameter name the control plane knows, spelled as the schemas (and OpenAPI) spell it. */
export const QUERY_NAMES = [
  'taskHub',
  'connection',
  'code',
  'showHistory',
  'showHistoryOutput',
  'showInput',
  'returnInternalServerErrorOnFailure',
  'createdTimeFrom',
  'createdTimeTo',
  'runtimeStatus',
  'instanceIdPrefix',
  'top',
  'reason',
  'restartWithNewInstanceId',
  'onConflict',
  'timeout',
  'pollingInterval',
  'name',
  'order',
  'op',
  'fetchState',
  'lastOperationTimeFrom',
  'lastOperationTimeTo',
] as const;

const CANONICAL = new Map<string, string>(QUERY_NAMES.map((name) => [name.toLowerCase(), name]));

export type Query = Record<string, string | string[]>;

/**
 * Renames query keys to their canonical spelling (`SHOWHISTORY` → `showHistory`) so that schema
 * validation sees one name; values of names that differ only in case are merged, in order.
 * Unknown names are kept as they are.
 */
export function canonicalQuery(query: Record<string, unknown>): Query {
  const merged = new Map<string, string[]>();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    const name = CANONICAL.get(key.toLowerCase()) ?? key;
    const values = merged.get(name) ?? [];
    values.push(...(Array.isArray(value) ? value : [value]).map(String));
    merged.set(name, values);
  }
  // Object.fromEntries defines own properties, so a `__proto__` key cannot touch the prototype.
  return Object.fromEntries([...merged].map(([name, values]) => [name, values.length === 1 ? (values[0] as string) : values]));
}

/** `true`/`false` in any case; anything else (including absence) means the default. */
export function parseBool(value: string | undefined, fallback: boolean): boolean {
  const lowered = value?.trim().toLowerCase();
  if (lowered === 'true') return true;
  if (lowered === 'false') return false;
  return fallback;
}

/**
 * A runtimeStatus filter: comma-separated and/or repeated, names (any case) or numeric codes;
 * undefined when absent or only empty tokens (no filter). A token that names no status is a 400
 * naming it: Durable Functions ignores it, which turns a typo in a purge filter
 * (`runtimeStatus=Complted`) into "purge every terminal instance".
 */
export function parseStatuses(value: string | readonly string[] | undefined): RuntimeStatus[] | undefined {
  if (value === undefined) return undefined;
  const tokens = (typeof value === 'string' ? [value] : value).flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  const statuses = tokens.map((token) => {
    const status = parseStatus(token);
    if (status !== undefined) return status;
    throw new ApiError(
      'VALIDATION',
      `The query parameter 'runtimeStatus' names no runtime status: '${token.slice(0, 64)}' (use ${RUNTIME_STATUSES.join(', ')} or 0-${RUNTIME_STATUSES.length - 1}).`,
      { parameter: 'runtimeStatus' },
    );
  });
  return statuses.length > 0 ? [...new Set(statuses)] : undefined;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

function zoneMinutes(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const digits = zone.slice(1).replace(':', '');
  const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
  return zone.startsWith('-') ? -minutes : minutes;
}

/**
 * An ISO-8601 date, date-time, or date-time with offset (no offset: UTC). A `+` of an offset that
 * arrived unencoded (and so decoded as a space) is accepted. Returns undefined for absent or empty;
 * throws a 400 for anything else that is not a real date.
 */
export function parseDate(name: string, value: string | undefined): Date | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim().replace(/ (\d{2}(?::?\d{2})?)$/, '+$1');
  const m = ISO.exec(text);
  const invalid = (): ApiError =>
    new ApiError('VALIDATION', `The value of '${name}' is not a valid ISO 8601 date and time: '${value}'.`, { parameter: name });
  if (!m) throw invalid();
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((p) => Number(p ?? '0')) as [
    number, number, number, number, number, number,
  ];
  const ms = Number((m[7] ?? '0').padEnd(3, '0').slice(0, 3));
  const offset = zoneMinutes(m[8]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 || Math.abs(offset) > 18 * 60) throw invalid();
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCDate() !== day) throw invalid();
  date.setUTCHours(hour, minute, second, ms);
  return new Date(date.getTime() - offset * 60_000);
}

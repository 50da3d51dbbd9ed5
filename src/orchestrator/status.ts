/** Runtime statuses, as Durable Functions names and numbers them. */

export const RUNTIME_STATUSES = [
  'Running',
  'Completed',
  'ContinuedAsNew',
  'Failed',
  'Canceled',
  'Terminated',
  'Pending',
  'Suspended',
] as const;

export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

/** Must match the predicate of the unique index in migrations/0001_engine_tables.sql. */
export const ACTIVE_STATUSES: readonly RuntimeStatus[] = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'];
export const TERMINAL_STATUSES: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Terminated', 'Canceled'];

export function isTerminal(status: RuntimeStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Parses a runtimeStatus filter token: a name (any case) or its numeric code; undefined if unknown. */
export function parseStatus(token: string): RuntimeStatus | undefined {
  const trimmed = token.trim();
  if (/^\d+$/.test(trimmed)) return RUNTIME_STATUSES[Number(trimmed)];
  return RUNTIME_STATUSES.find((s) => s.toLowerCase() === trimmed.toLowerCase());
}

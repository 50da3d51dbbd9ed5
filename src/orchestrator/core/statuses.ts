/**
 * Runtime statuses, as Durable Functions names and numbers them, and the ONE list of which of them
 * are active. The unique partial index that decides single-instance starts
 * (migrations/0001_engine_tables.sql) and the claimable-turns index (0004) repeat these lists in
 * SQL, where a constant cannot reach: test/integration/statuses.test.ts reads both predicates back
 * from pg_indexes and fails when they and this file disagree. Every SQL text of the engine builds
 * its lists from here (store/sql.ts).
 */

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

/** An instance in one of these holds its id and its singleton key: the unique index's predicate. */
export const ACTIVE_STATUSES = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'] as const satisfies readonly RuntimeStatus[];
export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];

/** Active and not suspended: a turn may run (the predicate of instances_claimable). */
export const RUNNABLE_STATUSES = ACTIVE_STATUSES.filter((s) => s !== 'Suspended');

/** Everything that is not active: the instance has ended and will not run again. */
export const TERMINAL_STATUSES: readonly RuntimeStatus[] = RUNTIME_STATUSES.filter((s) => !(ACTIVE_STATUSES as readonly string[]).includes(s));

export function isActive(status: RuntimeStatus): status is ActiveStatus {
  return (ACTIVE_STATUSES as readonly string[]).includes(status);
}

export function isTerminal(status: RuntimeStatus): boolean {
  return !isActive(status);
}

export function isRunnable(status: RuntimeStatus): boolean {
  return (RUNNABLE_STATUSES as readonly string[]).includes(status);
}

/** Parses a runtimeStatus filter token: a name (any case) or its numeric code; undefined if unknown. */
export function parseStatus(token: string): RuntimeStatus | undefined {
  const trimmed = token.trim();
  if (/^\d+$/.test(trimmed)) return RUNTIME_STATUSES[Number(trimmed)];
  return RUNTIME_STATUSES.find((s) => s.toLowerCase() === trimmed.toLowerCase());
}

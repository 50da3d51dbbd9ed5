/**
 * SQL fragments built from the engine's constants, so that a list written once in TypeScript is the
 * list every statement uses. Only constants go in here (never a value from a request): values are
 * always passed as $n.
 */
import { ACTIVE_STATUSES, RUNNABLE_STATUSES, type RuntimeStatus } from '../core/statuses.ts';

/** A parenthesised list of string literals, e.g. `('Pending', 'Running')`. */
export function statusList(statuses: readonly RuntimeStatus[]): string {
  return `(${statuses.map((s) => `'${s}'`).join(', ')})`;
}

/** The unique index's predicate: `runtime_status IN ${ACTIVE_SQL}`. */
export const ACTIVE_SQL = statusList(ACTIVE_STATUSES);

/** instances_claimable's predicate: `runtime_status IN ${RUNNABLE_SQL}` (the claim must repeat it to use the index). */
export const RUNNABLE_SQL = statusList(RUNNABLE_STATUSES);

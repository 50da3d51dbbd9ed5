/**
 * The errors of the engine's verbs, as domain codes. The engine knows nothing of HTTP: the control
 * plane maps each code to a status and a wire code in one table (src/routes/errors.ts), and a test
 * there checks that every code has its entry.
 */
import { isConnectionError } from '../db/sqlstate.ts';

export const ENGINE_ERROR_CODES = [
  /** No orchestration of that name is registered. */
  'UNKNOWN_ORCHESTRATION',
  /** The instance id breaks the id rules (core/instance-ids.ts). */
  'INVALID_INSTANCE_ID',
  /** The input cannot be used: the singleton key function failed on it. */
  'INVALID_INPUT',
  'INSTANCE_NOT_FOUND',
  /** An active instance already has the id (a start without onConflict). */
  'INSTANCE_EXISTS',
  /** The single-instance orchestration already has an active instance. */
  'SINGLETON_ACTIVE',
  /** The instance is active but in the wrong state for the verb (suspend twice, resume a running one). */
  'WRONG_STATE',
  /** The instance has ended: it can no longer be changed or receive events. */
  'INSTANCE_ENDED',
  /** The verb needs an ended instance (purge) or a failed one (rewind). */
  'PRECONDITION',
  /** The start kept meeting instances that were ending at that moment; trying again will do. */
  'CONTENDED',
  /** An entity name or key breaks the id rules (core/entities.ts), or the operation name is unusable. */
  'INVALID_ENTITY_ID',
  /** No entity of that name is registered. */
  'UNKNOWN_ENTITY',
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  /** Facts for the caller (the holder of a conflict: instanceId, runtimeStatus). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: EngineErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.details = details;
  }
}

/**
 * True when an error means the engine's database cannot be reached right now (connection refused,
 * reset, shutting down): the caller may retry later, nothing is wrong with its request.
 */
export function isStorageUnavailable(err: unknown): boolean {
  return isConnectionError(err);
}

/** The SQLSTATE codes the service reacts to, by name. */
export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  readOnlyTransaction: '25006',
  queryCanceled: '57014',
} as const;

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e.code === SQLSTATE.uniqueViolation && (constraint === undefined || e.constraint === constraint);
}

/** Errors that mean "the database is unreachable or restarting", not "the request is wrong". */
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e.code === SQLSTATE.adminShutdown ||
    e.code === SQLSTATE.crashShutdown ||
    e.code === SQLSTATE.cannotConnectNow ||
    e.code === 'ECONNREFUSED' ||
    e.code === 'ECONNRESET' ||
    e.code === 'ETIMEDOUT' ||
    e.code === 'EPIPE' ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|is not queryable/i.test(e.message ?? '')
  );
}

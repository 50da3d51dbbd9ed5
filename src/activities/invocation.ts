/**
 * The Azure Functions InvocationContext part of an activity's context (`context.log`, `info`,
 * `warn`, `error`, `debug`, `trace`, `invocationId`, `functionName`), so that an activity written
 * for durable-functions v3 runs unchanged: before these existed, `context.log(…)` in a ported
 * activity threw "context.log is not a function", which replaced the activity's real outcome.
 * Log lines go to the service's logger with the instance and the activity named.
 */
import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import type { Logger } from 'pino';

export type LogMethod = (...args: unknown[]) => void;

export interface InvocationFields {
  /** A new id for each run of the activity (each delivery and each retry), as the Functions host gives one per invocation. */
  readonly invocationId: string;
  /** The registered activity name. */
  readonly functionName: string;
  /** Logs at info, like console.log (printf-style formatting). */
  readonly log: LogMethod;
  readonly trace: LogMethod;
  readonly debug: LogMethod;
  readonly info: LogMethod;
  readonly warn: LogMethod;
  readonly error: LogMethod;
}

/** The fields for one run of `functionName` for `instanceId`. */
export function invocationFields(log: Logger, functionName: string, instanceId: string): InvocationFields {
  const invocationId = randomUUID();
  const bindings = { instanceId, activity: functionName, invocationId };
  const at =
    (level: 'trace' | 'debug' | 'info' | 'warn' | 'error'): LogMethod =>
    (...args) => {
      if (log.isLevelEnabled(level)) log[level](bindings, format(...args));
    };
  return { invocationId, functionName, log: at('info'), trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

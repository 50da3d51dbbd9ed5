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
import type { InvocationFields, LogMethod } from '../orchestrator/core/activity-context.ts';

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

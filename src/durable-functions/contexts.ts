/**
 * The contexts a durable-functions v3 handler expects, built over the engine's own: an
 * orchestration context that is also an InvocationContext (`log`, `info`, …, `invocationId`,
 * `functionName`) whose `df` adds v3's members, and an activity context with the binding members
 * of Azure Functions. What has no meaning outside Azure, or is not built yet, is present and throws
 * a clear error when used, so that ported code never dies on "x is not a function" or "cannot read
 * properties of undefined".
 */
import type { ActivityContext, InvocationFields, LogMethod } from '../orchestrator/core/activity-context.ts';
import type { DurableOrchestrationContext as EngineDf, OrchestrationContext as EngineContext } from '../orchestrator/core/context.ts';

export type { LogMethod };

/** Raised where a durable-functions feature is used that this service does not offer. */
export class NotSupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotSupportedError';
  }
}

/** Durable entities are being built (issue 15); until then they fail clearly. */
export function notYet(what: string): NotSupportedError {
  return new NotSupportedError(`${what} is not supported yet by pg-taskhub (durable entities are being built): use an activity meanwhile.`);
}

/** A callHttp tokenSource is answered only by a registered token provider (there is no managed identity outside Azure). */
function callHttpChecked(engine: EngineContext, hasTokenProvider: () => boolean): EngineDf['callHttp'] {
  return (options) => {
    const source = (options as { tokenSource?: { resource?: unknown } } | null | undefined)?.tokenSource;
    if (source !== undefined && source !== null && !hasTokenProvider()) {
      throw new NotSupportedError(
        `context.df.callHttp: tokenSource (${source.constructor?.name ?? 'a token source'} for '${String(source.resource)}') has no meaning outside Azure: ` +
          'register a token provider (registry.httpTokenProvider(async ({ resource }) => token), README "Durable HTTP") or send an Authorization header yourself.',
      );
    }
    return engine.df.callHttp(options);
  };
}

/** Input and output bindings belong to the Azure Functions host. */
function noBindings(what: 'extraInputs' | 'extraOutputs'): { get: () => never; set: () => never } {
  const fail = (): never => {
    throw new NotSupportedError(
      `context.${what} (Azure Functions ${what === 'extraInputs' ? 'input' : 'output'} bindings) has no meaning outside Azure: ` +
        'read or write the service directly in the activity (its SDK, fetch, or a database client).',
    );
  };
  return { get: fail, set: fail };
}

/** The InvocationContext members shared by both contexts. */
export interface InvocationContext extends InvocationFields {
  readonly extraInputs: { get: (input: unknown) => unknown; set: (input: unknown, value: unknown) => void };
  readonly extraOutputs: { get: (output: unknown) => unknown; set: (output: unknown, value: unknown) => void };
  readonly triggerMetadata: Record<string, unknown>;
  readonly options: { trigger: { type: string; name: string }; extraInputs: unknown[]; extraOutputs: unknown[] };
}

/** An entity's identity, as v3's class: `@name@key` in instance-id space. Entities are not built yet. */
export class EntityId {
  readonly name: string;
  readonly key: string;
  constructor(name: string, key: string) {
    if (!name) throw new TypeError('EntityId needs a name');
    this.name = name.toLowerCase();
    this.key = key;
  }
  toString(): string {
    return `@${this.name}@${this.key}`;
  }
}

/** v3's `context.df`: the engine's, plus what v3 has and the engine does not (yet). */
export interface DurableOrchestrationContext extends EngineDf {
  readonly version: string | undefined;
  /** The value of the last setCustomStatus in this execution's code path (as v3 exposes it). */
  readonly customStatus: unknown;
  callEntity(entityId: EntityId, operationName: string, operationInput?: unknown): never;
  signalEntity(entityId: EntityId, operationName: string, operationInput?: unknown): never;
  lock(...entities: unknown[]): never;
  isLocked(): never;
}

export interface OrchestrationContext extends InvocationContext {
  readonly df: DurableOrchestrationContext;
}

export type ActivityInvocationContext = ActivityContext & InvocationContext;

function text(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : JSON.stringify(a))).join(' ');
}

/**
 * The v3 context of one orchestration run; log lines appear once (not on replay), as in v3.
 * `hasTokenProvider` says whether callHttp token sources can be answered (registry.httpTokenProvider).
 */
export function orchestrationContext(engine: EngineContext, functionName: string, hasTokenProvider: () => boolean = () => false): OrchestrationContext {
  let customStatus: unknown = null;
  const df = Object.create(engine.df, {
    version: { value: undefined, enumerable: true },
    customStatus: { get: () => customStatus, enumerable: true },
    setCustomStatus: {
      value: (value: unknown) => {
        customStatus = value;
        engine.df.setCustomStatus(value);
      },
    },
    callEntity: { value: () => { throw notYet('context.df.callEntity'); } },
    signalEntity: { value: () => { throw notYet('context.df.signalEntity'); } },
    lock: { value: () => { throw notYet('context.df.lock (entity critical sections)'); } },
    isLocked: { value: () => { throw notYet('context.df.isLocked'); } },
    callHttp: { value: callHttpChecked(engine, hasTokenProvider) },
  }) as DurableOrchestrationContext;
  // The engine logs an orchestration's lines at info; the v3 level travels as a field (`level`
  // itself is pino's own key).
  const at =
    (level: string): LogMethod =>
    (...args) =>
      engine.log(text(args), level === 'info' ? undefined : { severity: level });
  return {
    df,
    invocationId: engine.df.instanceId,
    functionName,
    log: at('info'),
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    extraInputs: noBindings('extraInputs'),
    extraOutputs: noBindings('extraOutputs'),
    triggerMetadata: {},
    options: { trigger: { type: 'orchestrationTrigger', name: 'context' }, extraInputs: [], extraOutputs: [] },
  };
}

/** The v3 context of one activity run: the engine's (which already logs) plus the binding members. */
export function activityContext(engine: ActivityContext): ActivityInvocationContext {
  return {
    ...engine,
    extraInputs: noBindings('extraInputs'),
    extraOutputs: noBindings('extraOutputs'),
    triggerMetadata: {},
    options: { trigger: { type: 'activityTrigger', name: 'input' }, extraInputs: [], extraOutputs: [] },
  };
}

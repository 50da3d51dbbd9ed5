/**
 * `pg-taskhub/durable-functions`: the registration surface of durable-functions v3, so that a
 * Durable Functions file ports by changing one import line, the module specifier of its
 * `import * as df` (durable-functions becomes pg-taskhub/durable-functions):
 *
 *   df.app.orchestration('Hello', function* (context) { … });
 *   df.app.activity('SayHello', { handler: async (name, context) => `Hello ${name}` });
 *
 * and runs with `npm start -- --module ./that-file.ts`. As in v3, `df.app.*` registers when the
 * module is imported: the registrations wait here until the module loader (src/server.ts) hands
 * them to the service's registry (`applyDurableFunctionsApp`). This module state is v3's model, not
 * a convenience: v3 files have no other way to reach a registry. The loader maps this specifier to
 * the running service's own copy, so the state is the one it reads.
 *
 * What has no meaning outside Azure is documented in the README ("Porting a Durable Functions
 * app"): client functions (`df.app.client.*`, HTTP starters) are accepted and not served, with a
 * warning (the control plane is the starter); bindings (`extraInputs`, `extraOutputs`) are refused
 * at registration and throw a clear error when used; `df.getClient` throws. `callHttp` is the
 * engine's durable HTTP (core/http.ts); its `tokenSource` (ManagedIdentityTokenSource) throws
 * NotSupportedError unless a token provider is registered. Entities are not built yet: they fail
 * with "not supported yet" at registration or call time.
 */
import type { ActivityContext } from '../orchestrator/core/activity-context.ts';
import type { OrchestrationContext as EngineContext } from '../orchestrator/core/context.ts';
import type { Registry } from '../orchestrator/registry.ts';
import type { Task as TaskType } from '../orchestrator/core/tasks.ts';
import {
  type ActivityInvocationContext,
  activityContext,
  EntityId,
  NotSupportedError,
  notYet,
  type OrchestrationContext,
  orchestrationContext,
} from './contexts.ts';

export { RetryOptions, Task, TimerTask } from '../orchestrator/core/tasks.ts';
export { TaskFailedError } from '../orchestrator/core/failures.ts';
export { DurableHttpResponse } from '../orchestrator/core/http.ts';
export type { CallHttpOptions, DurableHttpRequest, HttpHeaders } from '../orchestrator/core/http.ts';
export { EntityId, NotSupportedError };
export type { DurableOrchestrationContext, InvocationContext, OrchestrationContext } from './contexts.ts';

/** v3: an orchestrator is a generator over its context. */
export type OrchestrationHandler = (context: OrchestrationContext) => Generator<TaskType, unknown, any>;
/** v3: an activity is a function of its input and an InvocationContext. */
export type ActivityHandler = (input: any, context: ActivityInvocationContext) => unknown;

/** v3's entity types, so that TypeScript files compile; registering an entity fails until entities are built. */
export interface DurableEntityContext<T = unknown> {
  readonly entityName: string;
  readonly entityKey: string;
  readonly entityId: EntityId;
  readonly operationName: string | undefined;
  readonly isNewlyConstructed: boolean;
  getState(initializer?: () => T): T | undefined;
  setState(state: T): void;
  getInput<I = unknown>(): I | undefined;
  return(value: unknown): void;
  destructOnExit(): void;
  signalEntity(entity: EntityId, operationName: string, operationInput?: unknown): void;
}
export interface EntityContext<T = unknown> extends ActivityInvocationContext {
  readonly df: DurableEntityContext<T>;
}
export type EntityHandler<T = unknown> = (context: EntityContext<T>) => void;

export interface OrchestrationOptions {
  handler: OrchestrationHandler;
}
export interface ActivityOptions {
  handler: ActivityHandler;
  extraInputs?: unknown[];
  extraOutputs?: unknown[];
}

/** v3 returns a callable for the "typed" call style; here it explains what to write instead. */
export type RegisteredFunction = (...args: unknown[]) => never;

type Pending = (registry: Registry, warn: (message: string) => void) => void;

/** Registrations made by df.app.* since the loader last took them (see the file comment). */
const pending: Pending[] = [];

function typedCallStyle(kind: 'activity' | 'orchestration', name: string): RegisteredFunction {
  const call = kind === 'activity' ? `context.df.callActivity('${name}', input)` : `context.df.callSubOrchestrator('${name}', input)`;
  return () => {
    throw new NotSupportedError(`calling the value df.app.${kind}('${name}', …) returned is not supported: yield ${call} instead`);
  };
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value !== 'object') return `a ${typeof value}`;
  return `an object with ${Object.keys(value).join(', ') || 'no keys'}`;
}

function handlerOf(call: string, shape: string, value: unknown): (...args: any[]) => unknown {
  const handler = typeof value === 'function' ? value : (value as { handler?: unknown } | null | undefined)?.handler;
  if (typeof handler !== 'function') throw new TypeError(`${call} needs ${shape}; got ${describe(value)}`);
  return handler as (...args: any[]) => unknown;
}

function refuseBindings(call: string, options: { extraInputs?: unknown[]; extraOutputs?: unknown[] }): void {
  for (const key of ['extraInputs', 'extraOutputs'] as const) {
    if (Array.isArray(options[key]) && options[key].length > 0) {
      throw new NotSupportedError(
        `${call}: ${key} (Azure Functions bindings) have no meaning outside Azure: remove them and use the service from the activity directly`,
      );
    }
  }
}

function orchestration(functionName: string, handlerOrOptions: OrchestrationHandler | OrchestrationOptions): RegisteredFunction {
  const call = `df.app.orchestration('${functionName}', …)`;
  const handler = handlerOf(call, 'a generator function or { handler: function* (context) {…} }', handlerOrOptions) as OrchestrationHandler;
  pending.push((registry) => {
    const hasTokenProvider = (): boolean => registry.getHttpTokenProvider() !== undefined;
    registry.orchestration(functionName, (context: EngineContext) => handler(orchestrationContext(context, functionName, hasTokenProvider)));
  });
  return typedCallStyle('orchestration', functionName);
}

function activity(functionName: string, options: ActivityOptions): RegisteredFunction {
  const call = `df.app.activity('${functionName}', …)`;
  const handler = handlerOf(call, '{ handler: async (input, context) => … }', options) as ActivityHandler;
  if (typeof options === 'object' && options !== null) refuseBindings(call, options);
  pending.push((registry) => {
    registry.activity(functionName, (input: unknown, context: ActivityContext) => handler(input, activityContext(context)));
  });
  return typedCallStyle('activity', functionName);
}

function entity(functionName: string, _handlerOrOptions?: unknown): never {
  throw notYet(`df.app.entity('${functionName}', …) (durable entities)`);
}

/** Client functions are the Functions host's starters: here the HTTP control plane is the starter. */
function clientFunction(trigger: string) {
  return (functionName: string, _options?: unknown): void => {
    pending.push((_registry, warn) =>
      warn(
        `df.app.client.${trigger}('${functionName}', …) is not served: pg-taskhub's HTTP control plane is the client ` +
          '(POST /runtime/webhooks/durabletask/orchestrators/{name} starts an instance); the function is ignored',
      ),
    );
  };
}

const CLIENT_TRIGGERS = [
  'http',
  'timer',
  'storageBlob',
  'storageQueue',
  'serviceBusQueue',
  'serviceBusTopic',
  'eventHub',
  'eventGrid',
  'cosmosDB',
  'generic',
] as const;

export const app = {
  orchestration,
  activity,
  entity,
  /** v3's hook for the properties of a thrown error: accepted and unused (failures carry type, message and stack). */
  setExceptionPropertiesProvider: (_provider: unknown): void => undefined,
  client: Object.fromEntries(CLIENT_TRIGGERS.map((t) => [t, clientFunction(t)])) as Record<
    (typeof CLIENT_TRIGGERS)[number],
    (functionName: string, options?: unknown) => void
  >,
};

/** v3's binding descriptors: plain descriptions, harmless to create (a client function is not served). */
export const input = { durableClient: () => ({ type: 'durableClient', name: 'durableClient' }) };
export const trigger = {
  activity: () => ({ type: 'activityTrigger', name: 'input' }),
  orchestration: () => ({ type: 'orchestrationTrigger', name: 'context' }),
  entity: () => ({ type: 'entityTrigger', name: 'context' }),
};

/** Outside a Functions host there is no client binding: use the HTTP API or `pg-taskhub/client`. */
export function getClient(_context?: unknown): never {
  throw new NotSupportedError(
    "df.getClient has no binding outside Azure Functions: manage instances over the HTTP API, with 'pg-taskhub/client' " +
      "or with durable-functions' own client pointed at the service (README, Clients)",
  );
}

/**
 * A managed-identity token for callHttp: an Azure identity has no meaning outside Azure. The value
 * can be created (so that files declaring one load); callHttp refuses it with NotSupportedError
 * unless a token provider is registered (`registry.httpTokenProvider`), which then answers it with
 * a bearer token for `resource` at request time.
 */
export class ManagedIdentityTokenSource {
  readonly kind = 'AzureManagedIdentity';
  readonly resource: string;
  constructor(resource: string) {
    this.resource = resource;
  }
}

/** v3's TokenSource: ManagedIdentityTokenSource is the one kind. */
export type TokenSource = ManagedIdentityTokenSource;

/** v3's runtime status names (an object, not an enum: the sources run on type stripping). */
export const OrchestrationRuntimeStatus = {
  Running: 'Running',
  Completed: 'Completed',
  ContinuedAsNew: 'ContinuedAsNew',
  Failed: 'Failed',
  Canceled: 'Canceled',
  Terminated: 'Terminated',
  Pending: 'Pending',
  Suspended: 'Suspended',
} as const;
export type OrchestrationRuntimeStatus = (typeof OrchestrationRuntimeStatus)[keyof typeof OrchestrationRuntimeStatus];

/**
 * Hands the df.app registrations made so far to `registry` (each once), reporting what is not
 * served through `warn`. The module loader calls it after importing each module; a program that
 * builds its own registry calls it after importing its durable-functions files.
 */
export function applyDurableFunctionsApp(registry: Registry, warn: (message: string) => void = () => undefined): number {
  const taken = pending.splice(0, pending.length);
  for (const register of taken) register(registry, warn);
  return taken.length;
}

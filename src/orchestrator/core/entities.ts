/**
 * Durable entities, the pure part: entity ids in instance-id space (`@{name}@{key}`, the name
 * lower-cased as Durable Functions' EntityId does), the operation and response messages, and the
 * operation context an entity function sees (shaped like durable-functions v3's `context.df`).
 * Pure: no I/O.
 */
import type { FailureDetails } from './history.ts';
import { MAX_INSTANCE_ID_LENGTH } from './instance-ids.ts';

/** Entity names: what an orchestration or activity name may hold (the registry's rule), any case. */
const ENTITY_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export interface EntityIdParts {
  /** The entity's name, lower-cased (Durable Functions compares entity names case-insensitively). */
  name: string;
  key: string;
}

/** Why an entity name or key is unusable, or undefined. Keys may hold '@'; they may not hold / \ # ? or control characters. */
export function entityIdProblem(name: string, key: string): string | undefined {
  if (!ENTITY_NAME.test(name)) return `the entity name '${name}' is invalid: letters, digits, _ . - (1-128, starting with a letter or _)`;
  // eslint-disable-next-line no-control-regex
  if (/[/\\#?\u0000-\u001f\u007f-\u009f]/.test(key)) return 'the entity key must not contain /, \\, #, ? or control characters';
  if ([...entityInstanceId(name, key)].length > MAX_INSTANCE_ID_LENGTH) return `the entity id @${name}@${key} is longer than ${MAX_INSTANCE_ID_LENGTH} characters`;
  return undefined;
}

/** `@{name}@{key}`, the name lower-cased: the entity's instance id. */
export function entityInstanceId(name: string, key: string): string {
  return `@${name.toLowerCase()}@${key}`;
}

export function isEntityInstanceId(instanceId: string): boolean {
  return instanceId.startsWith('@');
}

/** The name and key of an entity's instance id (the key is everything after the second '@'). */
export function parseEntityInstanceId(instanceId: string): EntityIdParts | undefined {
  if (!instanceId.startsWith('@')) return undefined;
  const at = instanceId.indexOf('@', 1);
  if (at < 0) return undefined;
  return { name: instanceId.slice(1, at), key: instanceId.slice(at + 1) };
}

/** Durable Functions' built-in operation: deletes the entity's state (DELETE /entities/{name}/{key} sends it). */
export const DELETE_OPERATION = 'delete';

/** Who waits for an operation's result (callEntity): the orchestration's execution and task. */
export interface EntityCaller {
  instanceId: string;
  executionId: string;
  taskId: number;
}

/**
 * How an operation ended, as the caller's EventRaised carries it (its payload): the result's JSON
 * text, or the failure. `{}` is an operation that returned nothing.
 */
export type EntityResponse = { result?: string } | { failure: FailureDetails };

/** The failure of an entity operation, thrown into the orchestration that called it. */
export class EntityOperationFailedError extends Error {
  readonly failure: FailureDetails;
  readonly entityId: string;
  readonly operationName: string;
  constructor(entityId: string, operationName: string, failure: FailureDetails) {
    super(`Operation '${operationName}' of entity '${entityId}' failed: ${failure.message}`);
    this.name = 'EntityOperationFailedError';
    this.failure = failure;
    this.entityId = entityId;
    this.operationName = operationName;
  }
}

/** An entity's id as durable-functions v3's EntityId: `new EntityId('Counter', 'k')`, `toString()` is the instance id. */
export class EntityId {
  readonly name: string;
  readonly key: string;
  constructor(name: string, key: string) {
    if (typeof name !== 'string' || name === '') throw new TypeError('EntityId needs a name (a non-empty string)');
    if (typeof key !== 'string') throw new TypeError('EntityId needs a key (a string)');
    this.name = name;
    this.key = key;
  }
  toString(): string {
    return entityInstanceId(this.name, this.key);
  }
}

/** An entity target as the orchestration and entity APIs accept it: an EntityId (or any {name, key}). */
export type EntityTarget = { name: string; key: string };

/** The checked instance id of a target, or a TypeError naming what is wrong. */
export function targetInstanceId(target: EntityTarget, call: string): string {
  if (target === null || typeof target !== 'object' || typeof target.name !== 'string' || typeof target.key !== 'string') {
    throw new TypeError(`${call} needs an EntityId (new df.EntityId(name, key)) as its first argument`);
  }
  const problem = entityIdProblem(target.name, target.key);
  if (problem !== undefined) throw new TypeError(`${call}: ${problem}`);
  return entityInstanceId(target.name, target.key);
}

/** What one operation sees: durable-functions v3's DurableEntityContext. */
export interface DurableEntityContext<TState = unknown> {
  readonly entityName: string;
  readonly entityKey: string;
  readonly entityId: EntityId;
  readonly operationName: string | undefined;
  /** True when the entity had no state before this operation. */
  readonly isNewlyConstructed: boolean;
  /** The state (a fresh copy each call), or `initializer()` when there is none; undefined without either. */
  getState(initializer?: () => TState): TState | undefined;
  /** Replaces the state (JSON-serialisable); kept only if the operation does not throw. */
  setState(state: TState): void;
  getInput<TInput = unknown>(): TInput | undefined;
  /** The operation's result, for a caller that waits for it (callEntity). */
  return(value: unknown): void;
  /** Deletes the entity's state once this operation completes. */
  destructOnExit(): void;
  /** Sends an operation to another entity (or this one), fire and forget, once this operation completes. */
  signalEntity(entity: EntityTarget, operationName: string, operationInput?: unknown): void;
}

export interface EntityContext<TState = unknown> {
  readonly df: DurableEntityContext<TState>;
  /** Logs a line about this operation (the entity id and operation are added). */
  log(message: string, fields?: Record<string, unknown>): void;
}

/** An entity function: called once per operation, one operation at a time per entity. May be async. */
export type EntityFunction<TState = any> = (context: EntityContext<TState>) => unknown;

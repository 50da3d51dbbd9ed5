/**
 * The entity verbs of the control plane: signal an operation (fire and forget), read an entity's
 * state, list entities (DELETE /entities/… is the signal of Durable Functions' built-in `delete`). A signal is one transaction (the entity's row created if new, the
 * operation in its inbox), then the wake-up; reads see only entities that have state, as Durable
 * Functions' readEntityState and listings do.
 */
import { withTransaction } from '../db/pool.ts';
import { entityIdProblem, entityInstanceId } from './core/entities.ts';
import { EngineError } from './engine-error.ts';
import { signalFor } from './entity-runner.ts';
import type { EngineContext } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { type EntityFilter, type EntityRow, getEntity, listEntities, sendToEntities, wakeEntities } from './store/entities.ts';
import { wakeChannel } from './store/turns.ts';

export type { EntityFilter, EntityRow };

/** Operation names: any text without control characters, at most 256 characters ('' is Durable Functions' default). */
// eslint-disable-next-line no-control-regex
const OPERATION = /^[^\u0000-\u001f\u007f]{0,256}$/;

export class EntityClient {
  private readonly ctx: EngineContext;
  private readonly registry: Registry | undefined;

  /** `registry`: when given, a signal to an entity name it does not have is refused (UNKNOWN_ENTITY). */
  constructor(ctx: EngineContext, registry?: Registry) {
    this.ctx = ctx;
    this.registry = registry;
  }

  /** The entity's instance id, or an EngineError naming what is wrong with the name or key. */
  id(name: string, key: string): string {
    const problem = entityIdProblem(name, key);
    if (problem !== undefined) throw new EngineError('INVALID_ENTITY_ID', `The entity ID is invalid: ${problem}.`);
    return entityInstanceId(name, key);
  }

  /**
   * Sends `operation` with `input` (JSON text; undefined: none) to the entity; durable when it
   * resolves. The operation runs after every operation sent before it.
   */
  async signal(name: string, key: string, operation: string, input: string | undefined): Promise<void> {
    const id = this.id(name, key);
    if (!OPERATION.test(operation)) throw new EngineError('INVALID_ENTITY_ID', 'The operation name is invalid: at most 256 characters, no control characters.');
    if (this.registry !== undefined && this.registry.getEntity(name) === undefined) {
      throw new EngineError('UNKNOWN_ENTITY', `The entity function '${name}' doesn't exist, is disabled, or is not an entity function.`);
    }
    await withTransaction(this.ctx.pool, (client) => sendToEntities(client, [signalFor(id, operation, input, new Date().toISOString())]));
    await wakeEntities(this.ctx.pool, [id], wakeChannel(this.ctx.schema));
  }

  /** The entity, when it exists (has state). */
  async get(name: string, key: string): Promise<EntityRow | undefined> {
    const entity = await getEntity(this.ctx.pool, this.id(name, key));
    return entity?.state === null ? undefined : entity;
  }

  async list(filter: EntityFilter, top: number, after: string | undefined): Promise<{ rows: EntityRow[]; next: string | undefined }> {
    if (filter.name !== undefined) this.id(filter.name, '');
    return listEntities(this.ctx.pool, { ...filter, name: filter.name?.toLowerCase() }, top, after);
  }
}

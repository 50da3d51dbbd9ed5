/**
 * One entity turn = one transaction, with the discipline of an orchestration turn: the dispatcher
 * claimed the entity's row (lease, attempt counted); the turn locks it, reads the due operations in
 * arrival order, runs them one at a time against the state, and commits the new state, the answers
 * to callers (delivered to their executions), the signals sent to other entities and the consumed
 * messages together. A crash mid-turn commits nothing: the lease expires and the same operations run
 * again (operations run at least once; their effects are recorded exactly once).
 *
 * An operation that throws answers its caller with the failure, and the state, its signals and its
 * result are rolled back to what they were before it; the operations after it still run (Durable
 * Functions' semantics). A turn whose attempts keep crashing workers fails its first operation
 * ('PoisonOperation') and goes on with the next ones in the next turn.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type Client, withTransaction } from '../db/pool.ts';
import type { Message } from './core/decide.ts';
import {
  DELETE_OPERATION,
  type DurableEntityContext,
  type EntityIdParts,
  EntityId,
  type EntityResponse,
  parseEntityInstanceId,
  targetInstanceId,
} from './core/entities.ts';
import { type EventOf, type FailureDetails, fromJson, toFailure, toJson } from './core/history.ts';
import { entityResponseId, signalMessageId } from './core/message-ids.ts';
import type { EngineContext } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { commitEntityTurn, lockEntity, sendToEntities, wakeEntities } from './store/entities.ts';
import { deliver, receive } from './store/inbox.ts';
import { notifyWake, wakeChannel } from './store/turns.ts';

export interface EntityRunnerOptions {
  poisonAttempts: number;
  /** Operations applied per turn; the rest wait for the next turn (keeps transactions bounded). */
  operationsPerTurn: number;
  /** An operation still running after this long fails with EntityOperationTimeout (its state change is dropped). */
  operationTimeoutMs: number;
  /** Largest JSON text of an entity's state. */
  maxPayloadBytes: number;
}

export type EntitySignal = Message & { entityName: string };

/** What one operation did: its new state, result and signals, or its failure (then nothing of it is kept). */
type Outcome = { ok: true; state: string | null; result: string | undefined; signals: EntitySignal[] } | { ok: false; failure: FailureDetails };

interface TurnOutcome {
  committed: boolean;
  /** Entities this turn signalled: woken after the commit. */
  signalled: string[];
}

const NOT_OURS: TurnOutcome = { committed: false, signalled: [] };

/**
 * A turn starts no new operation after this long: the operations run inside the turn's transaction,
 * which must commit well within the turn lease (TASKHUB_TURN_LEASE_SECONDS, at least 2 s) and the
 * idle-in-transaction timeout; the operations left wait for the next turn, in their order.
 */
const TURN_BUDGET_MS = 1_000;

/** Builds the signal message an entity (or a client) sends. */
export function signalFor(entityId: string, operation: string, input: string | undefined, now: string): EntitySignal {
  const parts = parseEntityInstanceId(entityId) as EntityIdParts;
  return {
    instanceId: entityId,
    entityName: parts.name,
    messageId: signalMessageId(randomUUID()),
    executionId: undefined,
    event: { type: 'EntityOperation', operation, timestamp: now, payload: input },
  };
}

export class EntityRunner {
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly options: EntityRunnerOptions;

  constructor(ctx: EngineContext, registry: Registry, log: Logger, options: EntityRunnerOptions) {
    this.ctx = ctx;
    this.registry = registry;
    this.log = log.child({ component: 'entities' });
    this.options = options;
  }

  /** Runs one turn of a claimed entity. Resolves true when the turn committed. */
  async run(instanceId: string, owner: string, attempts: number): Promise<boolean> {
    const outcome = await withTransaction(this.ctx.pool, (client) => this.turn(client, instanceId, owner, attempts));
    if (outcome.committed && outcome.signalled.length > 0) {
      await wakeEntities(this.ctx.pool, outcome.signalled, wakeChannel(this.ctx.schema)).catch((err: unknown) =>
        // The dispatcher's sweep wakes them instead (within a poll interval).
        this.log.warn({ instanceId, err: (err as Error).message }, 'waking signalled entities failed; the sweep wakes them'),
      );
    }
    return outcome.committed;
  }

  private async turn(client: Client, instanceId: string, owner: string, attempts: number): Promise<TurnOutcome> {
    const row = await lockEntity(client, instanceId);
    const parts = parseEntityInstanceId(instanceId);
    if (row === undefined || row.leaseOwner !== owner || parts === undefined) return NOT_OURS;
    const messages = await receive(client, instanceId, this.options.operationsPerTurn);
    const now = new Date().toISOString();
    const log = this.log.child({ instanceId });
    const quarantined = attempts > this.options.poisonAttempts;
    let state = row.state;
    const consumed: string[] = [];
    const answers: Message[] = [];
    const signals: EntitySignal[] = [];
    const started = Date.now();
    for (const message of messages) {
      if (consumed.length > 0 && Date.now() - started > TURN_BUDGET_MS) break;
      consumed.push(message.messageId);
      if (message.event.type !== 'EntityOperation') continue; // nothing else is sent to an entity
      const operation = message.event;
      const outcome = quarantined ? poisoned(attempts) : await this.apply(parts, operation, state, log);
      if (outcome.ok) {
        state = outcome.state;
        signals.push(...outcome.signals);
      } else if (!quarantined) {
        log.info({ operation: operation.operation, failure: outcome.failure.message }, 'entity operation failed; its changes are rolled back');
      } else {
        log.error({ operation: operation.operation, attempts }, 'entity operation quarantined after repeated crashes');
      }
      const answer = answerFor(operation, outcome, now);
      if (answer !== undefined) answers.push(answer);
      if (quarantined) break; // the rest run in the next turn, which starts with a fresh attempt count
    }
    if (answers.length > 0) {
      await deliver(client, answers);
      await notifyWake(client, this.ctx.schema);
    }
    await sendToEntities(client, signals);
    await commitEntityTurn(client, { instanceId, consumed, state, ranOperations: consumed.length > 0 });
    return { committed: true, signalled: signals.map((s) => s.instanceId) };
  }

  /**
   * Runs one operation on a copy of the state. `delete` is built in (as Durable Functions' implicit
   * delete): it clears the state without calling the entity function.
   */
  private async apply(parts: EntityIdParts, operation: EventOf<'EntityOperation'>, state: string | null, log: Logger): Promise<Outcome> {
    if (operation.operation.toLowerCase() === DELETE_OPERATION) return { ok: true, state: null, result: undefined, signals: [] };
    const registered = this.registry.getEntity(parts.name);
    if (registered === undefined) {
      return { ok: false, failure: { type: 'EntityNotRegistered', message: `no entity named '${parts.name}' is registered on this worker` } };
    }
    const op = new Operation(parts, operation, state, this.options.maxPayloadBytes);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        op.abandoned = true;
        reject(Object.assign(new Error(`the operation ran longer than ${this.options.operationTimeoutMs} ms (TASKHUB_ENTITY_OPERATION_TIMEOUT_MS)`), { name: 'EntityOperationTimeout' }));
      }, this.options.operationTimeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(() => registered.fn({ df: op.context, log: (message, fields) => log.info({ operation: operation.operation, ...fields }, message) })), timeout]);
      return op.outcome();
    } catch (err) {
      return { ok: false, failure: toFailure(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function poisoned(attempts: number): Outcome {
  return {
    ok: false,
    failure: {
      type: 'PoisonOperation',
      message: `quarantined: a turn of this entity was attempted ${attempts - 1} times without committing (a worker crashed or timed out each time)`,
    },
  };
}

/** The caller's answer (callEntity), or undefined for a signal. */
function answerFor(operation: EventOf<'EntityOperation'>, outcome: Outcome, now: string): Message | undefined {
  const caller = operation.caller;
  if (caller === undefined) return undefined;
  const response: EntityResponse = outcome.ok ? (outcome.result === undefined ? {} : { result: outcome.result }) : { failure: outcome.failure };
  return {
    instanceId: caller.instanceId,
    executionId: caller.executionId,
    messageId: entityResponseId(caller.executionId, caller.taskId),
    event: { type: 'EventRaised', name: operation.operation, taskId: caller.taskId, timestamp: now, payload: JSON.stringify(response) },
  };
}

/** One operation's view of the entity: a working copy of the state, kept only if the operation completes. */
class Operation {
  readonly context: DurableEntityContext;
  /** Set when the operation timed out: what it does afterwards is ignored. */
  abandoned = false;
  private state: string | null;
  private result: string | undefined;
  private readonly signals: EntitySignal[] = [];

  constructor(parts: EntityIdParts, operation: EventOf<'EntityOperation'>, state: string | null, maxPayloadBytes: number) {
    this.state = state;
    const write = (text: string | null): void => {
      if (this.abandoned) return;
      if (text !== null && Buffer.byteLength(text) > maxPayloadBytes) {
        throw Object.assign(new Error(`the entity state is ${Buffer.byteLength(text)} bytes of JSON, over the limit of ${maxPayloadBytes} (TASKHUB_MAX_PAYLOAD_BYTES)`), {
          name: 'PayloadLimitExceeded',
        });
      }
      this.state = text;
    };
    this.context = {
      entityName: parts.name,
      entityKey: parts.key,
      entityId: new EntityId(parts.name, parts.key),
      operationName: operation.operation,
      isNewlyConstructed: state === null,
      getState: (initializer) => (this.state !== null ? JSON.parse(this.state) : initializer ? initializer() : undefined),
      setState: (value) => write(toJson(value) ?? null),
      getInput: <T>() => fromJson(operation.payload) as T | undefined,
      return: (value) => {
        if (!this.abandoned) this.result = toJson(value);
      },
      destructOnExit: () => write(null),
      signalEntity: (target, operationName, input) => {
        const id = targetInstanceId(target, 'signalEntity');
        if (typeof operationName !== 'string') throw new TypeError('signalEntity needs an operation name (a string)');
        if (!this.abandoned) this.signals.push(signalFor(id, operationName, toJson(input), new Date().toISOString()));
      },
    };
  }

  outcome(): Outcome {
    return { ok: true, state: this.state, result: this.result, signals: this.signals };
  }
}

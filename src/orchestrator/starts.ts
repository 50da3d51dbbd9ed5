/**
 * The one way an instance comes to exist: an HTTP start, a restart, a sub-orchestration, a schedule
 * tick, terminate-and-replace and a rewound parent's child all plan here (registered name, id
 * rules, singleton key, a new execution id) and create through one SQL statement
 * (store/instances.ts createInstance). The unique partial index decides every singleton conflict
 * inside that statement; nothing here reads and then writes to decide one.
 */
import { randomUUID } from 'node:crypto';
import { type Queryable, withTransaction } from '../db/pool.ts';
import { instanceIdProblem } from './core/instance-ids.ts';
import { EngineError } from './engine-error.ts';
import { NO_INSTRUMENTATION, type StartOutcome as ObservedStart } from './instrumentation.ts';
import { type EngineContext, terminateExecution } from './lifecycle.ts';
import type { Registry } from './registry.ts';
import { type CreateOutcome, createInstance, findActiveBySingletonKey, getInstance, lockInstance, type NewInstance } from './store/instances.ts';
import type { Instance } from './core/instance.ts';
import { wakeChannel } from './store/turns.ts';
import type { ChildStart } from './core/decide.ts';
import { subOrchestrationResultId } from './core/message-ids.ts';
import { isTerminal } from './core/statuses.ts';
import { deliver } from './store/inbox.ts';

export type OnConflict = 'fail' | 'useExisting' | 'terminateExisting';

export interface StartRequest {
  name: string;
  instanceId?: string | undefined;
  /** JSON text of the input; undefined means no input (null). */
  input: string | undefined;
  onConflict?: OnConflict | undefined;
}

export type StartOutcome = { kind: 'created'; instanceId: string } | { kind: 'existing'; instance: Instance };

/** What a start is asked for, by whichever path. */
export interface StartSpec {
  name: string;
  instanceId: string;
  input: string | undefined;
  parent?: NewInstance['parent'];
}

/** Why a start cannot even be tried; each caller words it for its audience. */
export type StartProblem =
  | { problem: 'unknown-orchestration' }
  | { problem: 'invalid-instance-id'; reason: string }
  /** The orchestration's validate hook refused the input. */
  | { problem: 'input-invalid'; reason: string }
  | { problem: 'singleton-key-failed'; reason: string };

/** A new instance id: 32 lowercase hex characters, as Durable Functions makes them. */
export function newInstanceId(): string {
  return randomUUID().replaceAll('-', '');
}

/** Attempts of an HTTP start whose conflicts kept naming holders that ended before they were read. */
const MAX_START_ATTEMPTS = 21;

export class Starts {
  private readonly ctx: EngineContext;
  private readonly registry: Registry;

  constructor(ctx: EngineContext, registry: Registry) {
    this.ctx = ctx;
    this.registry = registry;
  }

  /** The instance row a start would write (canonical name, singleton key, new execution), or why not. */
  plan(spec: StartSpec): NewInstance | StartProblem {
    const registered = this.registry.getOrchestration(spec.name);
    if (registered === undefined) return { problem: 'unknown-orchestration' };
    const idProblem = instanceIdProblem(spec.instanceId);
    if (idProblem !== undefined) return { problem: 'invalid-instance-id', reason: idProblem };
    const input = spec.input === undefined ? null : JSON.parse(spec.input);
    const inputProblem = this.registry.inputProblem(registered.name, input);
    if (inputProblem !== undefined) return { problem: 'input-invalid', reason: inputProblem };
    let singletonKey: string | null;
    try {
      singletonKey = this.registry.singletonKey(registered.name, input);
    } catch (err) {
      return { problem: 'singleton-key-failed', reason: (err as Error).message };
    }
    return { instanceId: spec.instanceId, name: registered.name, executionId: randomUUID(), input: spec.input, singletonKey, parent: spec.parent };
  }

  /**
   * Starts a sub-orchestration inside its parent's turn. A child that cannot start (unknown name,
   * bad id, failing singleton key, id or singleton held) is not an error of the turn: the parent
   * gets a SubOrchestrationInstanceFailed message saying why, as it would for a child that failed.
   */
  async startChild(db: Queryable, parent: Instance, child: ChildStart, traceContext?: string | undefined): Promise<void> {
    const spec: StartSpec = {
      name: child.name,
      instanceId: child.instanceId,
      input: child.input,
      parent: { instanceId: parent.instanceId, executionId: parent.executionId, taskId: child.taskId },
    };
    const planned = this.plan(spec);
    let problem: string | undefined;
    if ('problem' in planned) problem = childStartProblem(spec, planned);
    else {
      const outcome = await this.createWithin(db, { ...planned, traceContext });
      if (!outcome.created) {
        problem =
          outcome.reason === 'instance-active'
            ? `an instance with ID '${child.instanceId}' is already ${outcome.status}`
            : `'${child.name}' is single-instance and already has an active instance`;
      }
    }
    if (problem === undefined) return;
    await deliver(db, [
      {
        instanceId: parent.instanceId,
        executionId: parent.executionId,
        messageId: subOrchestrationResultId(parent.executionId, child.taskId),
        event: {
          type: 'SubOrchestrationInstanceFailed',
          taskId: child.taskId,
          timestamp: new Date().toISOString(),
          failure: { type: 'SubOrchestrationStartFailed', message: problem },
        },
      },
    ]);
  }

  /** Creates a planned instance inside the caller's transaction (a child, a tick, a replacement). */
  async createWithin(db: Queryable, instance: NewInstance): Promise<CreateOutcome> {
    return createInstance(db, instance, wakeChannel(this.ctx.schema), 'inTransaction');
  }

  /**
   * The control plane's start (HTTP start and restart). Bad requests are EngineErrors; conflicts
   * follow `onConflict`: fail (INSTANCE_EXISTS / SINGLETON_ACTIVE naming the holder), useExisting
   * (the holder) or terminateExisting (end the holder and start, in one transaction).
   */
  async start(request: StartRequest): Promise<StartOutcome> {
    const spec: StartSpec = { name: request.name, instanceId: request.instanceId ?? newInstanceId(), input: request.input };
    const onConflict = request.onConflict ?? 'fail';
    // A conflict whose holder ends between our INSERT and our read of it is tried again.
    const planned = this.planOrThrow(spec);
    const instrumentation = this.ctx.instrumentation ?? NO_INSTRUMENTATION;
    return instrumentation.start(
      planned.name,
      async (traceContext) => {
        for (let attempt = 0; attempt < MAX_START_ATTEMPTS; attempt++) {
          const instance = { ...planned, traceContext, executionId: attempt === 0 ? planned.executionId : randomUUID() };
          const outcome = onConflict === 'terminateExisting' ? await this.replace(instance) : await this.startAlone(instance, onConflict);
          if (outcome !== 'retry') return outcome;
        }
        throw new EngineError('CONTENDED', 'The start kept conflicting with instances that were ending; retry.');
      },
      observedOutcome,
    );
  }

  private planOrThrow(spec: StartSpec): NewInstance {
    const planned = this.plan(spec);
    if (!('problem' in planned)) return planned;
    switch (planned.problem) {
      case 'unknown-orchestration':
        throw new EngineError('UNKNOWN_ORCHESTRATION', `The function '${spec.name}' doesn't exist, is disabled, or is not an orchestrator function.`);
      case 'invalid-instance-id':
        throw new EngineError('INVALID_INSTANCE_ID', `The instance ID '${spec.instanceId}' is invalid: it ${planned.reason}.`);
      case 'input-invalid':
        throw new EngineError('INVALID_INPUT', `The input of '${this.registry.getOrchestration(spec.name)?.name ?? spec.name}' is invalid: ${planned.reason}`);
      case 'singleton-key-failed':
        throw new EngineError('INVALID_INPUT', `The singleton key of '${this.registry.getOrchestration(spec.name)?.name ?? spec.name}' could not be computed from the input: ${planned.reason}`);
    }
  }

  /**
   * The common start: one statement in its own transaction. Before it, a fast path for the visibly
   * contended case: when an active holder of the singleton key is seen, the start answers from it
   * without a failing INSERT (measured: the failing INSERT was most of a 409's cost). That read
   * only saves work: when it sees no holder, the INSERT and the unique index decide, so a start
   * that races past it (the holder commits just after the read) still gets the conflict.
   */
  private async startAlone(instance: NewInstance, onConflict: OnConflict): Promise<StartOutcome | 'retry'> {
    // A checked-out client, released without the error: pool.query would destroy the connection
    // on the unique violation that is a conflict's normal answer (measured: one new connection per 409).
    const client = await this.ctx.pool.connect();
    let created: CreateOutcome;
    let holder: Instance | undefined;
    try {
      holder = instance.singletonKey === null ? undefined : await findActiveBySingletonKey(client, instance.singletonKey);
      // Alone, the statement is its own transaction: with a post-commit wake it does not NOTIFY itself.
      if (holder === undefined) created = await createInstance(client, instance, this.ctx.wake ? null : wakeChannel(this.ctx.schema), 'alone');
      else if (holder.instanceId === instance.instanceId) created = { created: false, reason: 'instance-active', status: holder.runtimeStatus };
      else created = { created: false, reason: 'singleton-active' };
      if (!created.created && holder === undefined) holder = await this.holderOf(client, instance, created.reason);
    } catch (err) {
      client.release(err as Error); // anything else may mean a broken connection: discard it
      throw err;
    }
    client.release();
    if (created.created) {
      this.ctx.wake?.turns();
      return { kind: 'created', instanceId: instance.instanceId };
    }
    if (holder === undefined || isTerminal(holder.runtimeStatus)) return 'retry';
    if (onConflict === 'useExisting') return { kind: 'existing', instance: holder };
    throw conflictError(instance.name, created.reason, holder);
  }

  /** The active instance a refused start conflicted with (undefined: it has ended since). */
  private async holderOf(db: Queryable, instance: NewInstance, reason: 'instance-active' | 'singleton-active'): Promise<Instance | undefined> {
    if (reason === 'instance-active') return getInstance(db, instance.instanceId);
    return instance.singletonKey === null ? undefined : findActiveBySingletonKey(db, instance.singletonKey);
  }

  /** onConflict=terminateExisting: terminate the holder (same id or same singleton key) and start, in one transaction. */
  private async replace(instance: NewInstance): Promise<StartOutcome | 'retry'> {
    const reason = `replaced by a new start of '${instance.name}' (onConflict=terminateExisting)`;
    return withTransaction(this.ctx.pool, async (client) => {
      const byId = await lockInstance(client, instance.instanceId);
      if (byId && !isTerminal(byId.runtimeStatus)) await terminateExecution(this.ctx, client, byId, reason);
      const byKey = instance.singletonKey === null ? undefined : await findActiveBySingletonKey(client, instance.singletonKey, true);
      if (byKey) await terminateExecution(this.ctx, client, byKey, reason);
      const created = await this.createWithin(client, instance);
      if (!created.created) return 'retry'; // another start took the slot between our termination and insert
      return { kind: 'created', instanceId: instance.instanceId };
    });
  }
}

/** A child's start problem as its parent's SubOrchestrationInstanceFailed says it. */
export function childStartProblem(spec: StartSpec, p: StartProblem): string {
  switch (p.problem) {
    case 'unknown-orchestration':
      return `no orchestration named '${spec.name}' is registered`;
    case 'invalid-instance-id':
      // The default child id is `${parentId}:${taskId}`, which a long parent id can push past the limit.
      return `the sub-orchestration instance ID '${spec.instanceId}' ${p.reason}; pass an explicit, shorter instance ID`;
    case 'input-invalid':
      return `the input of '${spec.name}' is invalid: ${p.reason}`;
    case 'singleton-key-failed':
      return `the singleton key of '${spec.name}' could not be computed: ${p.reason}`;
  }
}

/** How a start ended, for the starts counter. */
function observedOutcome(result: StartOutcome | undefined, err: unknown): ObservedStart {
  if (result !== undefined) return result.kind === 'created' ? 'accepted' : 'existing';
  const code = err instanceof EngineError ? err.code : undefined;
  return code === 'SINGLETON_ACTIVE' || code === 'INSTANCE_EXISTS' ? 'conflict' : 'rejected';
}

/** The error of a refused start: which kind of holder, and who it is. */
function conflictError(name: string, reason: 'instance-active' | 'singleton-active', holder: Instance): EngineError {
  const details = { instanceId: holder.instanceId, runtimeStatus: holder.runtimeStatus };
  if (reason === 'instance-active') {
    return new EngineError('INSTANCE_EXISTS', `An Orchestration instance with the status ${holder.runtimeStatus} already exists.`, details);
  }
  return new EngineError(
    'SINGLETON_ACTIVE',
    `'${name}' is a single-instance orchestration and already has an active instance '${holder.instanceId}' (${holder.runtimeStatus}).`,
    details,
  );
}

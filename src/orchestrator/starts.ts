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
import { endExecution, type EngineContext, terminateExecution } from './lifecycle.ts';
import type { TurnHandoff, TurnReservation } from './ports.ts';
import type { Registry } from './registry.ts';
import { type CreateOutcome, createInstance, findActiveBySingletonKey, getInstance, holdersOfKey, lockInstance, type NewInstance } from './store/instances.ts';
import { debounceStart, dropSlot, lockHolders, lockKey, lockWaiters } from './store/concurrency.ts';
import { childPolicy, type Concurrency, type OnConflict, policyProblem } from './core/concurrency.ts';
import { isUniqueViolation, SQLSTATE } from '../db/sqlstate.ts';
import type { Instance } from './core/instance.ts';
import { wakeChannel } from './store/turns.ts';
import type { ChildStart } from './core/decide.ts';
import { subOrchestrationResultId } from './core/message-ids.ts';
import { isTerminal } from './core/statuses.ts';
import { deliver } from './store/inbox.ts';

export type { OnConflict } from './core/concurrency.ts';

export interface StartRequest {
  name: string;
  instanceId?: string | undefined;
  /** JSON text of the input; undefined means no input (null). */
  input: string | undefined;
  onConflict?: OnConflict | undefined;
}

/**
 * created: a new instance (`waiting`: it waits in its key's queue, or for its debounce window);
 * debounced: the start collapsed into the key's debouncing instance, which will run with this input;
 * existing: onConflict=useExisting's answer.
 */
export type StartOutcome =
  | { kind: 'created'; instanceId: string; waiting?: 'queue' | 'debounce' | undefined }
  | { kind: 'debounced'; instanceId: string }
  | { kind: 'existing'; instance: Instance };

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
  /** @internal what may be started (and, for the entity verbs, signalled) */
  readonly registry: Registry;
  private readonly handoff: TurnHandoff | undefined;
  /** Holder reads in flight per key (and limit), and the one the starts arriving meanwhile wait for. */
  private readonly holderReads = new Map<string, { current?: Promise<Instance | undefined> | undefined; next?: Promise<Instance | undefined> | undefined }>();

  /** `handoff`: a dispatcher in this process lending a turn slot, so an HTTP start claims its first turn itself. */
  constructor(ctx: EngineContext, registry: Registry, handoff?: TurnHandoff) {
    this.ctx = ctx;
    this.registry = registry;
    this.handoff = handoff;
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
    const limit = singletonKey === null ? undefined : this.registry.concurrency(registered.name)?.limit;
    // A debounce without a limit keys only the debounce: the instance, once started, holds no slot.
    return {
      instanceId: spec.instanceId,
      name: registered.name,
      executionId: randomUUID(),
      input: spec.input,
      singletonKey: limit === undefined ? null : singletonKey,
      debounceKey: singletonKey,
      parent: spec.parent,
      limit,
    };
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
      const policy = childPolicy(this.registry.concurrency(planned.name));
      const outcome = await this.createWithin(db, { ...planned, traceContext }, policy);
      if (!outcome.created) {
        problem =
          outcome.reason === 'instance-active'
            ? `an instance with ID '${child.instanceId}' is already ${outcome.status}`
            : planned.limit === undefined || planned.limit === 1
              ? `'${child.name}' is single-instance and already has an active instance`
              : `'${planned.name}' already has its limit of ${planned.limit} active instances for this key`;
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

  /**
   * Creates a planned instance inside the caller's transaction (a child, a tick, a replacement).
   * With a limit it takes a free slot of its key; `queue` (or replaceQueued) makes it wait in the
   * key's queue when none is free, any other policy refuses it (`singleton-active`).
   */
  async createWithin(db: Queryable, instance: NewInstance, policy: OnConflict = 'fail'): Promise<CreateOutcome> {
    const queue = instance.limit !== undefined && instance.singletonKey !== null && (policy === 'queue' || policy === 'replaceQueued');
    return createInstance(db, { ...instance, queue }, wakeChannel(this.ctx.schema), 'inTransaction');
  }

  /**
   * The control plane's start (HTTP start and restart). Bad requests are EngineErrors; a full key
   * follows `onConflict` (the request's, else the registration's, else fail): fail (INSTANCE_EXISTS /
   * SINGLETON_ACTIVE naming the oldest holder), useExisting (that holder), terminateExisting (end it
   * and start, in one transaction), queue / replaceQueued (wait for a slot), debounce (collapse into
   * the key's debouncing instance). A policy the orchestration cannot follow is INVALID_INPUT.
   */
  async start(request: StartRequest): Promise<StartOutcome> {
    const spec: StartSpec = { name: request.name, instanceId: request.instanceId ?? newInstanceId(), input: request.input };
    // A conflict whose holder ends between our INSERT and our read of it is tried again.
    const planned = this.planOrThrow(spec);
    const concurrency = this.registry.concurrency(planned.name);
    const onConflict = request.onConflict ?? concurrency?.onConflict ?? 'fail';
    const problem = policyProblem(planned.name, concurrency, onConflict);
    if (problem !== undefined) throw new EngineError('INVALID_INPUT', problem);
    const instrumentation = this.ctx.instrumentation ?? NO_INSTRUMENTATION;
    return instrumentation.start(
      planned.name,
      async (traceContext) => {
        for (let attempt = 0; attempt < MAX_START_ATTEMPTS; attempt++) {
          const instance = { ...planned, traceContext, executionId: attempt === 0 ? planned.executionId : randomUUID() };
          const outcome = await this.startBy(instance, onConflict, concurrency).catch((err: unknown) => {
            if ((err as { code?: string }).code === SQLSTATE.deadlockDetected) return 'retry' as const; // a key's lock against a row's: try again
            throw err;
          });
          if (outcome !== 'retry') return outcome;
        }
        throw new EngineError('CONTENDED', 'The start kept conflicting with instances that were ending; retry.');
      },
      observedOutcome,
    );
  }

  private async startBy(instance: NewInstance, onConflict: OnConflict, concurrency: Concurrency | undefined): Promise<StartOutcome | 'retry'> {
    switch (onConflict) {
      case 'terminateExisting':
        return this.replace(instance);
      case 'queue':
      case 'replaceQueued':
        return this.enqueue(instance, onConflict);
      case 'debounce':
        return this.debounce(instance, concurrency?.debounce as NonNullable<Concurrency['debounce']>);
      default:
        return this.startAlone(instance, onConflict);
    }
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
    // The fast path's read first, on the pool and shared between the starts of one key that arrive
    // while a read of it is in flight (sharedHolderRead): a storm of starts of a held key answers
    // from a few reads instead of queueing one read each for the api pool's connections.
    const seen = await this.sharedHolderRead(instance);
    const client = await this.ctx.pool.connect();
    let created: CreateOutcome;
    let holder: Instance | undefined = seen;
    let reservation: TurnReservation | undefined;
    try {
      // A free turn slot of this process's dispatcher: the INSERT leases the first turn to it (one
      // claim transaction and one wake-up fewer per start). The plain START only (limits over 1 pick a slot).
      if (holder === undefined && !(instance.limit !== undefined && instance.limit > 1 && instance.singletonKey !== null)) reservation = this.handoff?.reserve(1);
      const lease = reservation ? { owner: reservation.owner, leaseSeconds: reservation.leaseSeconds } : undefined;
      // Alone, the statement is its own transaction: with a post-commit wake it does not NOTIFY itself.
      if (holder === undefined) created = await createInstance(client, instance, this.ctx.wake ? null : wakeChannel(this.ctx.schema), 'alone', lease);
      else if (holder.instanceId === instance.instanceId) created = { created: false, reason: 'instance-active', status: holder.runtimeStatus };
      else created = { created: false, reason: 'singleton-active' };
      if (!created.created && holder === undefined) holder = await this.holderOf(client, instance, created.reason);
    } catch (err) {
      if (reservation) this.handoff?.release(reservation);
      client.release(err as Error); // anything else may mean a broken connection: discard it
      throw err;
    }
    client.release();
    if (created.created && created.claimed === true && reservation) {
      this.handoff?.adopt(reservation, [{ instanceId: instance.instanceId, attempts: 1 }]);
      return { kind: 'created', instanceId: instance.instanceId };
    }
    if (reservation) this.handoff?.release(reservation);
    if (created.created) {
      this.ctx.wake?.turns();
      return { kind: 'created', instanceId: instance.instanceId };
    }
    if (holder === undefined || isTerminal(holder.runtimeStatus)) return 'retry';
    if (onConflict === 'useExisting') return { kind: 'existing', instance: holder };
    throw conflictError(instance.name, created.reason, holder, instance.limit);
  }

  /** Runs `fn` on a checked-out connection, released without the error of a unique violation (see startAlone). */
  private async alone<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    const client = await this.ctx.pool.connect();
    try {
      const result = await fn(client);
      client.release();
      return result;
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  }

  /**
   * visibleHolder on the pool, shared by the starts of the same key (and limit) that wait together:
   * a start that arrives while a read of its key is in flight does not take that read's answer (it
   * began before the start arrived, and the holder it saw may have ended since); it waits for the
   * read's end and shares the next one, which begins after every start waiting for it arrived. So
   * each answer is read within its own request, as an unshared read would be, and a storm of N starts
   * of one key costs a handful of reads. The read only saves work: when it sees no holder, the INSERT
   * and the unique index decide.
   */
  private sharedHolderRead(instance: NewInstance): Promise<Instance | undefined> {
    if (instance.singletonKey === null) return Promise.resolve(undefined);
    const key = `${instance.limit ?? 1}\u0000${instance.singletonKey}`;
    let reads = this.holderReads.get(key);
    if (reads === undefined) {
      reads = {};
      this.holderReads.set(key, reads);
    }
    const state = reads;
    if (state.next !== undefined) return state.next;
    const begin = (): Promise<Instance | undefined> => {
      const read = this.visibleHolder(this.ctx.pool, instance);
      state.current = read;
      const settle = (): void => {
        if (state.current === read) state.current = undefined;
        if (state.current === undefined && state.next === undefined && this.holderReads.get(key) === state) this.holderReads.delete(key);
      };
      read.then(settle, settle);
      return read;
    };
    if (state.current === undefined) return begin();
    const next = state.current
      .catch(() => undefined)
      .then(() => {
        state.next = undefined;
        return begin();
      });
    state.next = next;
    return next;
  }

  /** The fast path's read: the key's oldest holder when no slot is free (undefined: try the INSERT). */
  private async visibleHolder(db: Queryable, instance: NewInstance): Promise<Instance | undefined> {
    if (instance.singletonKey === null) return undefined;
    if ((instance.limit ?? 1) === 1) return findActiveBySingletonKey(db, instance.singletonKey);
    const holders = await holdersOfKey(db, instance.singletonKey);
    return holders.count >= (instance.limit as number) ? holders.oldest : undefined;
  }

  /**
   * onConflict=queue / replaceQueued: under the key's lock, take a free slot or join the key's
   * queue (202 either way); replaceQueued then terminates the other waiters of the key, naming this
   * start as their replacement, before the lock is let go. The lock makes "no slot free, so wait"
   * and a holder's release (which hands its slot to the oldest waiter) happen one after the other,
   * never interleaved. A queue start is one statement in its own transaction (one round trip).
   */
  private async enqueue(instance: NewInstance, policy: 'queue' | 'replaceQueued'): Promise<StartOutcome | 'retry'> {
    const key = instance.singletonKey as string;
    const queued = { ...instance, queue: true };
    const result =
      policy === 'queue'
        ? await this.alone((client) => createInstance(client, queued, wakeChannel(this.ctx.schema), 'alone'))
        : await withTransaction(this.ctx.pool, async (client) => {
            const created = await createInstance(client, queued, wakeChannel(this.ctx.schema), 'inTransaction');
            if (created.created && created.queued) {
              const reason = `replaced by a newer start, instance '${instance.instanceId}' (onConflict=replaceQueued)`;
              for (const waiting of await lockWaiters(client, key, instance.instanceId)) {
                // A waiter never ran a turn (or ran none since it queued): no activity job to look for.
                await endExecution(this.ctx, client, waiting, { status: 'Terminated', output: JSON.stringify(reason), mayHaveOpenTasks: waiting.historyLength > 0 }, [
                  { type: 'ExecutionTerminated', reason, timestamp: new Date().toISOString() },
                ]);
              }
            }
            return created;
          });
    if (result.created) return { kind: 'created', instanceId: instance.instanceId, waiting: result.queued ? 'queue' : undefined };
    if (result.reason === 'singleton-active') return 'retry';
    const holder = await getInstance(this.ctx.pool, instance.instanceId);
    if (holder === undefined || isTerminal(holder.runtimeStatus)) return 'retry';
    throw conflictError(instance.name, 'instance-active', holder);
  }

  /**
   * onConflict=debounce: one statement (store/concurrency.ts DEBOUNCE_START) writes a debouncing
   * instance for the key or moves the key's debouncing instance (its input is now this start's).
   * The answer names the instance that will run.
   */
  private async debounce(instance: NewInstance, window: { seconds: number; maxWaitSeconds: number }): Promise<StartOutcome | 'retry'> {
    try {
      const { instanceId, inserted } = await debounceStart(this.ctx.pool, instance, window);
      return inserted ? { kind: 'created', instanceId, waiting: 'debounce' } : { kind: 'debounced', instanceId };
    } catch (err) {
      if (!isUniqueViolation(err, 'instances_pkey')) throw err;
      const holder = await getInstance(this.ctx.pool, instance.instanceId);
      if (holder === undefined) return 'retry';
      throw conflictError(instance.name, 'instance-active', holder);
    }
  }

  /** The active instance a refused start conflicted with (undefined: it has ended since). */
  private async holderOf(db: Queryable, instance: NewInstance, reason: 'instance-active' | 'singleton-active'): Promise<Instance | undefined> {
    if (reason === 'instance-active') return getInstance(db, instance.instanceId);
    return instance.singletonKey === null ? undefined : findActiveBySingletonKey(db, instance.singletonKey);
  }

  /**
   * onConflict=terminateExisting: terminate the holder of the id, and when the key has no free slot
   * its oldest holder, and start in its slot, in one transaction (under the key's lock: the freed
   * slot is this start's, not handed to a waiter).
   */
  private async replace(instance: NewInstance): Promise<StartOutcome | 'retry'> {
    const reason = `replaced by a new start of '${instance.name}' (onConflict=terminateExisting)`;
    const key = instance.singletonKey;
    return withTransaction(this.ctx.pool, async (client) => {
      if (key !== null) await lockKey(client, key);
      const byId = await lockInstance(client, instance.instanceId);
      if (byId && !isTerminal(byId.runtimeStatus)) await this.endForReplacement(client, byId, reason);
      let created = await this.createWithin(client, instance);
      if (!created.created && created.reason === 'singleton-active' && key !== null) {
        const oldest = (await lockHolders(client, key))[0];
        if (oldest) await this.endForReplacement(client, oldest, reason);
        created = await this.createWithin(client, instance);
      }
      if (!created.created) return 'retry'; // another start took the slot between our termination and insert
      return { kind: 'created', instanceId: instance.instanceId };
    });
  }

  /** Terminates a locked active instance keeping its slot free for the replacing start (no hand-off). */
  private async endForReplacement(db: Queryable, row: Instance, reason: string): Promise<void> {
    if (row.concurrencySlot !== null && row.concurrencySlot !== undefined && row.singletonKey !== null) await dropSlot(db, row.instanceId);
    await terminateExecution(this.ctx, db, row, reason);
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
  if (result !== undefined) {
    if (result.kind === 'created') return result.waiting === 'queue' ? 'queued' : result.waiting === 'debounce' ? 'debounced' : 'accepted';
    return result.kind === 'debounced' ? 'debounced' : 'existing';
  }
  const code = err instanceof EngineError ? err.code : undefined;
  return code === 'SINGLETON_ACTIVE' || code === 'INSTANCE_EXISTS' ? 'conflict' : 'rejected';
}

/** The error of a refused start: which kind of holder, and who it is. */
function conflictError(name: string, reason: 'instance-active' | 'singleton-active', holder: Instance, limit?: number): EngineError {
  const details = { instanceId: holder.instanceId, runtimeStatus: holder.runtimeStatus };
  if (reason === 'instance-active') {
    return new EngineError('INSTANCE_EXISTS', `An Orchestration instance with the status ${holder.runtimeStatus} already exists.`, details);
  }
  if (limit !== undefined && limit > 1) {
    return new EngineError(
      'SINGLETON_ACTIVE',
      `'${name}' already has its limit of ${limit} active instances for this key; the oldest is '${holder.instanceId}' (${holder.runtimeStatus}).`,
      details,
    );
  }
  return new EngineError(
    'SINGLETON_ACTIVE',
    `'${name}' is a single-instance orchestration and already has an active instance '${holder.instanceId}' (${holder.runtimeStatus}).`,
    details,
  );
}

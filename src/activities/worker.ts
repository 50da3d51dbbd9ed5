/**
 * The activity worker: takes activity jobs from pg-boss, runs the registered function, and hands
 * the outcome to the recorder. An activity that throws is a result too (TaskFailed, as data); only
 * a crash or a lost heartbeat makes pg-boss deliver the job again. A job delivered more than the
 * poison limit allows is not run again: its instance is failed with the reason.
 *
 * Concurrency is counted in slots, one per running activity, not per fetched batch. pg-boss's
 * `work()` awaits a whole batch before it fetches again, so four activities that never resolved
 * stopped every activity in the process (measured: 4 loops of batch 50). This loop fetches up to
 * the free slots (at most `batchSize` a fetch), starts each job on its own, and fetches again as
 * slots free up. Heartbeats are one `touch()` for every held job; results are completed in batches
 * by the recorder, fenced to the fetched attempt.
 *
 * Every attempt has a timeout (the activity's `timeoutSeconds`, else TASKHUB_ACTIVITY_TIMEOUT_SECONDS).
 * On timeout the attempt fails with `ActivityTimeout` (retry policies see it like any failure), its
 * signal aborts, and its slot is released even if the function ignores the signal: JavaScript cannot
 * stop a promise, so the worker stops awaiting it, counts it as abandoned until it settles, and drops
 * whatever it ends with.
 */
import type { Logger } from 'pino';
import type { Job, PgBoss } from 'pg-boss';
import { bossDb, type Pool } from '../db/pool.ts';
import { quarantineActivity } from '../orchestrator/activity-results.ts';
import type { ActivityContext } from '../orchestrator/core/activity-context.ts';
import { toFailure, toJson } from '../orchestrator/core/history.ts';
import type { EngineContext } from '../orchestrator/lifecycle.ts';
import { type ActivityObservation, NO_INSTRUMENTATION } from '../orchestrator/instrumentation.ts';
import type { ActivityHandoff, ClaimedJob, TurnHandoff } from '../orchestrator/ports.ts';
import type { RegisteredActivity, Registry } from '../orchestrator/registry.ts';
import { ACTIVITY_QUEUE, type ActivityJobData } from './queue.ts';
import { invocationFields } from './invocation.ts';
import { type ActivityResult, ResultRecorder } from './recorder.ts';
import { BossWakeListener } from './wake.ts';

export interface ActivityWorkerOptions {
  /** Most jobs taken in one fetch. */
  batchSize: number;
  /** Slots: activities running at once in this process. */
  concurrency: number;
  poisonAttempts: number;
  pollIntervalSeconds: number;
  /** The queue's heartbeat; held jobs are touched every half of it. */
  heartbeatSeconds: number;
  /** Default attempt timeout for activities registered without `timeoutSeconds`. */
  timeoutSeconds: number;
  /** Largest result, in bytes of JSON, an activity may return (TASKHUB_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes: number;
  /** For the wake-up listener (LISTEN on pg-boss's channel); omitted: poll and local nudges only. */
  listen?: { connectionString: string; bossSchema: string };
  /** Called after results are committed, to wake a dispatcher in this process at once. */
  onResultsRecorded?: () => void;
  /** A dispatcher in this process lending its turn slots: the turns results make due are claimed with them. */
  handoff?: TurnHandoff;
  /** The engine's own activities (BuiltIn::HttpActivity), found before the registry's. */
  builtIns?: readonly RegisteredActivity[];
  /**
   * Most jobs one turn may enqueue claimed for this worker (ActivityHandoff; TASKHUB_ACTIVITY_LOCAL_CLAIM).
   * 0: every job goes through the queue's fetch.
   */
  localClaim?: number;
}

/** The failure type of an attempt that ran past its timeout. */
export const ACTIVITY_TIMEOUT = 'ActivityTimeout';

/** How long stop() waits for running activities to finish and be recorded. */
const STOP_GRACE_MS = 10_000;

interface Held {
  job: Job<ActivityJobData>;
  /**
   * The attempt's signal: aborted when the claim is gone (cancelled by terminate, expired, taken
   * over), at its timeout, and at shutdown. One controller aborted from each place, not
   * AbortSignal.any: a composite was seen not to abort here once in a few runs.
   */
  abort: AbortController;
  claimLost: boolean;
  /** Resolves when the claim is found gone: the attempt is then abandoned and its slot released. */
  lost: Promise<'lost'>;
  markLost: () => void;
}

export class ActivityWorker implements ActivityHandoff {
  private readonly pool: Pool;
  private readonly boss: PgBoss;
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly options: ActivityWorkerOptions;
  private readonly recorder: ResultRecorder;
  private readonly builtIns: ReadonlyMap<string, RegisteredActivity>;
  private readonly shutdown = new AbortController();
  private readonly held = new Map<string, Held>();
  private readonly running = new Set<Promise<void>>();
  private readonly abandonedNow = new Set<Promise<unknown>>();
  private readonly listener: BossWakeListener | undefined;
  private loopDone: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private endSleep: (() => void) | undefined;
  private signalled = false;
  private wakeScheduled = false;
  /** The loop is waiting because every slot is taken. */
  private full = false;
  /** Slots lent to turns that enqueue their jobs claimed for this worker, not yet adopted. */
  private reserved = 0;
  private started = false;
  /** Attempts that timed out, since start. */
  timedOut = 0;

  constructor(pool: Pool, boss: PgBoss, ctx: EngineContext, registry: Registry, log: Logger, options: ActivityWorkerOptions) {
    this.pool = pool;
    this.boss = boss;
    this.ctx = ctx;
    this.registry = registry;
    this.log = log.child({ component: 'activities' });
    this.options = options;
    this.recorder = new ResultRecorder(pool, boss, ctx, this.log, options.onResultsRecorded, options.handoff);
    this.builtIns = new Map((options.builtIns ?? []).map((a) => [a.name, a]));
    if (options.listen) {
      this.listener = new BossWakeListener(options.listen.connectionString, options.listen.bossSchema, ACTIVITY_QUEUE, this.log, () => this.wake());
    }
  }

  /** Slots in use: activities running now (abandoned attempts no longer hold one). */
  get busySlots(): number {
    return this.running.size;
  }

  /** Timed-out attempts whose function is still running (their results will be dropped). */
  get abandonedRunning(): number {
    return this.abandonedNow.size;
  }

  async start(): Promise<void> {
    await this.listener?.ensure();
    const every = Math.max(1, this.options.heartbeatSeconds / 2) * 1000;
    this.heartbeat = setInterval(() => void this.touchHeld(), every);
    this.started = true;
    this.loopDone = this.loop();
  }

  /** Wakes the fetch loop at once (jobs were just enqueued, here or elsewhere). */
  wake(): void {
    this.signalled = true;
    this.endSleep?.();
  }

  /**
   * Stops fetching; running activities see their signal abort and get a grace period to finish and
   * be recorded. Jobs still unfinished then are left to their heartbeat: pg-boss delivers them again.
   */
  async stop(): Promise<void> {
    if (this.shutdown.signal.aborted) return;
    this.shutdown.abort();
    for (const h of this.held.values()) h.abort.abort(new Error('the worker is shutting down'));
    this.wake();
    await this.loopDone;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
    await Promise.race([Promise.allSettled([...this.running]), grace]);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    await this.listener?.close();
    if (this.abandonedNow.size > 0) this.log.warn({ abandoned: this.abandonedNow.size }, 'stopping with abandoned activity attempts still running');
  }

  /** Free slots: running activities and slots lent to turns count against the concurrency. */
  private freeSlots(): number {
    return this.options.concurrency - this.running.size - this.reserved;
  }

  reserve(wanted: number): number {
    if (!this.started || this.shutdown.signal.aborted) return 0;
    const slots = Math.min(wanted, this.options.localClaim ?? 0, this.freeSlots());
    if (slots <= 0) return 0;
    this.reserved += slots;
    return slots;
  }

  adopt(reserved: number, jobs: readonly ClaimedJob[]): void {
    this.reserved -= reserved;
    // Claimed in the committed turn: run them even while stopping (begin() aborts their signal at
    // once then, and an unrecorded attempt is delivered again after its heartbeat lapses).
    for (const job of jobs.slice(0, reserved)) this.begin(job as Job<ActivityJobData>);
    if (jobs.length < reserved) this.slotFreed();
  }

  release(reserved: number): void {
    this.reserved -= reserved;
    this.slotFreed();
  }

  private async loop(): Promise<void> {
    const pollMs = this.options.pollIntervalSeconds * 1000;
    while (!this.shutdown.signal.aborted) {
      const free = this.freeSlots();
      this.full = free <= 0;
      if (this.full) {
        await this.sleep(pollMs);
        continue;
      }
      const wanted = Math.min(free, this.options.batchSize);
      let jobs: Array<Job<ActivityJobData>>;
      this.signalled = false;
      try {
        // On our pool, as a prepared statement (bossDb): pg-boss's fetch is a page of SQL that
        // PostgreSQL otherwise plans on every call (0.45 of its 0.75 ms, measured).
        jobs = await this.boss.fetch<ActivityJobData>(ACTIVITY_QUEUE, { batchSize: wanted, db: bossDb(this.pool) });
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'fetching activity jobs failed; retrying');
        await this.sleep(pollMs);
        continue;
      }
      for (const job of jobs) this.begin(job);
      // A short fetch means the queue is (for now) empty: wait for a wake-up or the backstop poll.
      if (jobs.length < wanted) {
        void this.listener?.ensure();
        await this.sleep(pollMs);
      }
    }
  }

  /** Sleeps until nudged, a slot frees up, or `ms` pass. */
  private sleep(ms: number): Promise<void> {
    if (this.signalled || this.shutdown.signal.aborted) {
      this.signalled = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        // Only this sleep's own wake-up is cleared: a stale one would swallow the next nudge.
        if (this.endSleep === wake) this.endSleep = undefined;
        this.signalled = false;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.endSleep = wake;
    });
  }

  /**
   * A slot came free: if the loop waits for one, fetch again, once per burst of releases (a recorded
   * batch frees many at once). A loop that is not full waits for jobs, not slots.
   */
  private slotFreed(): void {
    if (!this.full || this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  private begin(job: Job<ActivityJobData>): void {
    let markLost = (): void => undefined;
    const lost = new Promise<'lost'>((resolve) => (markLost = () => resolve('lost')));
    const held: Held = { job, abort: new AbortController(), claimLost: false, lost, markLost };
    if (this.shutdown.signal.aborted) held.abort.abort(new Error('the worker is shutting down'));
    this.held.set(job.id, held);
    const run = this.handle(held)
      .catch((err) => this.log.warn({ err: (err as Error).message, activity: job.data.name }, 'activity result not recorded; the job will be delivered again'))
      .finally(() => {
        this.held.delete(job.id);
        this.running.delete(run);
        this.slotFreed();
      });
    this.running.add(run);
  }

  /** One statement refreshes every held claim; a job it did not refresh is no longer ours. */
  private async touchHeld(): Promise<void> {
    const held = [...this.held.values()];
    if (held.length === 0) return;
    let settled: Set<string>;
    try {
      // 12.38 returns the ids it refreshed as `settled` (not yet in its declarations).
      const response = (await this.boss.touch(ACTIVITY_QUEUE, held.map((h) => ({ id: h.job.id, retryCount: h.job.retryCount })))) as { settled?: string[] };
      if (response.settled === undefined) return;
      settled = new Set(response.settled);
    } catch (err) {
      // A heartbeat that could not run says nothing about the claims.
      this.log.warn({ err: (err as Error).message }, 'activity heartbeat failed');
      return;
    }
    for (const h of held) {
      if (!settled.has(h.job.id) && this.held.get(h.job.id) === h) {
        h.claimLost = true;
        h.abort.abort(new Error('the job is no longer claimed by this worker (cancelled or expired)'));
        h.markLost();
      }
    }
  }

  private async handle(held: Held): Promise<void> {
    const { job } = held;
    const data = job.data;
    const observed = (this.ctx.instrumentation ?? NO_INSTRUMENTATION).activity({
      instanceId: data.instanceId,
      executionId: data.executionId,
      taskId: data.taskId,
      name: data.name,
      attempt: job.retryCount,
      traceparent: data.trace,
    });
    if (job.retryCount >= this.options.poisonAttempts) {
      observed.end('quarantined');
      await this.quarantine(job);
      return;
    }
    const event = await this.execute(held, observed);
    if (event === undefined) return;
    // An aborted claim means the job is gone (expired and redelivered, cancelled): a failure now is most likely
    // that abort, not the activity's outcome, so the redelivery (or the terminal state) decides instead.
    if (held.claimLost && event.type === 'TaskFailed') return;
    if (this.shutdown.signal.aborted && event.type === 'TaskFailed' && event.failure.type !== ACTIVITY_TIMEOUT) return;
    // Redeliveries count toward the attempt number of the call's next retry.
    if (event.type === 'TaskFailed' && job.retryCount > 0) event.attempts = job.retryCount + 1;
    await this.recorder.record({ job: { id: job.id, retryCount: job.retryCount }, instanceId: data.instanceId, executionId: data.executionId, event });
  }

  /** Runs the attempt under its timeout; undefined when there is nothing to record. */
  private async execute(held: Held, observed: ActivityObservation): Promise<ActivityResult['event'] | undefined> {
    const { job } = held;
    const data = job.data;
    const timestamp = (): string => new Date().toISOString();
    const registered = this.builtIns.get(data.name) ?? this.registry.getActivity(data.name);
    if (registered === undefined) {
      observed.end('unregistered');
      const failure = { type: 'ActivityNotRegistered', message: `no activity named '${data.name}' is registered`, nonRetryable: true };
      return { type: 'TaskFailed', taskId: data.taskId, timestamp: timestamp(), failure };
    }
    const timeoutSeconds = registered.options.timeoutSeconds ?? this.options.timeoutSeconds;
    const context = activityContext(held, registered.name, this.log);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutSeconds * 1000)));
    // The job's own expiry (TASKHUB_ACTIVITY_EXPIRE_SECONDS), when it comes before the timeout: the
    // claim is given back at once, as pg-boss's work() does, rather than at its next monitor pass.
    let expiryTimer: NodeJS.Timeout | undefined;
    const expiresMs = (job.expireInSeconds ?? 0) * 1000;
    const claimExpired = new Promise<'expired'>((resolve) => {
      if (expiresMs > 0 && expiresMs < timeoutSeconds * 1000) expiryTimer = setTimeout(() => resolve('expired'), expiresMs);
    });
    const work = observed.run(async () => registered.fn(data.input === undefined ? undefined : JSON.parse(data.input), context));
    try {
      const outcome = await Promise.race([work.then((output) => ({ output })), expired, held.lost, claimExpired]);
      if (outcome === 'expired') {
        held.claimLost = true;
        held.abort.abort(new Error(`the job expired after ${job.expireInSeconds} s (TASKHUB_ACTIVITY_EXPIRE_SECONDS) and is delivered again`));
        await this.boss.fail(ACTIVITY_QUEUE, [{ id: job.id, retryCount: job.retryCount }], { message: 'expired' }).catch(() => undefined);
        this.wake();
        observed.end('abandoned');
        this.abandon(work, data, 'its job expired');
        return undefined;
      }
      if (outcome === 'lost') {
        // Cancelled (terminate) or taken over: nothing to record; stop waiting for it if it ignores its signal.
        observed.end('abandoned');
        this.abandon(work, data, 'its job was cancelled or taken over');
        return undefined;
      }
      if (outcome !== 'timeout') {
        const payload = toJson(outcome.output);
        const bytes = payload === undefined ? 0 : Buffer.byteLength(payload);
        if (bytes > this.options.maxPayloadBytes) {
          // Refused here, before it reaches the inbox: a result too big to store would fail the
          // instance's next turn instead, or bloat every replay of its history.
          observed.end('failed');
          const message = `the result of activity '${registered.name}' is ${bytes} bytes of JSON, over the limit of ${this.options.maxPayloadBytes} (TASKHUB_MAX_PAYLOAD_BYTES)`;
          return { type: 'TaskFailed', taskId: data.taskId, timestamp: timestamp(), failure: { type: 'PayloadLimitExceeded', message, nonRetryable: true } };
        }
        observed.end('completed');
        return { type: 'TaskCompleted', taskId: data.taskId, timestamp: timestamp(), payload };
      }
    } catch (err) {
      observed.end('failed');
      return { type: 'TaskFailed', taskId: data.taskId, timestamp: timestamp(), failure: toFailure(err) };
    } finally {
      clearTimeout(timer);
      clearTimeout(expiryTimer);
    }
    const message = `activity '${registered.name}' did not finish within ${timeoutSeconds} s (${registered.options.timeoutSeconds === undefined ? 'TASKHUB_ACTIVITY_TIMEOUT_SECONDS' : 'its timeoutSeconds option'}); the attempt was abandoned`;
    held.abort.abort(Object.assign(new Error(message), { name: ACTIVITY_TIMEOUT }));
    this.timedOut++;
    observed.end('timeout');
    this.abandon(work, data, 'it timed out');
    return { type: 'TaskFailed', taskId: data.taskId, timestamp: timestamp(), failure: { type: ACTIVITY_TIMEOUT, message } };
  }

  /** Stops awaiting an attempt; it stays counted until it settles, and its result goes nowhere. */
  private abandon(work: Promise<unknown>, data: ActivityJobData, why: string): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.abandonedNow.add(settled);
    // Logged only while it still runs a moment later: an activity that honours its signal ends at once.
    setImmediate(() => {
      if (!this.abandonedNow.has(settled)) return;
      this.log.warn(
        { instanceId: data.instanceId, activity: data.name, taskId: data.taskId, abandonedRunning: this.abandonedNow.size },
        `activity attempt abandoned (${why}); it still runs, and its result will be dropped`,
      );
    });
    void settled.then(() => {
      this.abandonedNow.delete(settled);
      this.log.debug({ instanceId: data.instanceId, activity: data.name, abandonedRunning: this.abandonedNow.size }, 'abandoned activity attempt ended; its result was dropped');
    });
  }

  private async quarantine(job: Job<ActivityJobData>): Promise<void> {
    const data = job.data;
    this.log.error(
      { instanceId: data.instanceId, executionId: data.executionId, taskId: data.taskId, activity: data.name, deliveries: job.retryCount },
      'activity quarantined',
    );
    await quarantineActivity(this.ctx, this.pool, data, job.retryCount);
    // The instance failed (or was already over): settle the job so it is not delivered yet again.
    await this.boss.complete(ACTIVITY_QUEUE, [{ id: job.id, retryCount: job.retryCount }]).catch(() => undefined);
  }
}

/** What the activity function sees of its attempt. */
function activityContext(held: Held, name: string, log: Logger): ActivityContext {
  const data = held.job.data;
  // The identity of the whole call, across the retries of callActivityWithRetry: its first task.
  const logicalTaskId = data.callTaskId ?? data.taskId;
  return {
    instanceId: data.instanceId,
    name,
    task: { instanceId: data.instanceId, executionId: data.executionId, taskId: data.taskId },
    idempotencyKey: `${data.instanceId}:${data.executionId}:${logicalTaskId}`,
    attempt: (data.priorAttempts ?? 0) + held.job.retryCount,
    signal: held.abort.signal,
    ...invocationFields(log, name, data.instanceId),
  };
}

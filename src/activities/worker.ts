/**
 * The activity worker: takes activity jobs from pg-boss, runs the registered function, and hands
 * the outcome to the recorder. An activity that throws is a result too (TaskFailed, as data); only
 * a crash or a lost heartbeat makes pg-boss deliver the job again. A job delivered more than the
 * poison limit allows is not run again: its instance is failed with the reason.
 */
import type { Logger } from 'pino';
import type { Job, PgBoss } from 'pg-boss';
import type { Pool } from '../db/pool.ts';
import { toFailure, toJson } from '../orchestrator/core/history.ts';
import { quarantineActivity } from '../orchestrator/activity-results.ts';
import type { EngineContext } from '../orchestrator/lifecycle.ts';
import { NO_INSTRUMENTATION } from '../orchestrator/instrumentation.ts';
import type { Registry } from '../orchestrator/registry.ts';
import { ACTIVITY_QUEUE, type ActivityJobData } from './queue.ts';
import { ResultRecorder } from './recorder.ts';
import type { ActivityContext } from '../orchestrator/core/activity-context.ts';

export interface ActivityWorkerOptions {
  batchSize: number;
  concurrency: number;
  poisonAttempts: number;
  pollIntervalSeconds: number;
  /** Called after results are committed, to wake a dispatcher in this process at once. */
  onResultsRecorded?: () => void;
}

export class ActivityWorker {
  private readonly pool: Pool;
  private readonly boss: PgBoss;
  private readonly ctx: EngineContext;
  private readonly registry: Registry;
  private readonly log: Logger;
  private readonly options: ActivityWorkerOptions;
  private readonly recorder: ResultRecorder;
  private readonly shutdown = new AbortController();
  private workerId: string | undefined;

  constructor(pool: Pool, boss: PgBoss, ctx: EngineContext, registry: Registry, log: Logger, options: ActivityWorkerOptions) {
    this.pool = pool;
    this.boss = boss;
    this.ctx = ctx;
    this.registry = registry;
    this.log = log.child({ component: 'activities' });
    this.options = options;
    this.recorder = new ResultRecorder(pool, boss, ctx, this.log, options.onResultsRecorded);
  }

  async start(): Promise<void> {
    // localConcurrency batches run side by side, so one slow activity holds up only its own batch.
    const localConcurrency = Math.max(1, Math.ceil(this.options.concurrency / this.options.batchSize));
    this.workerId = await this.boss.work<ActivityJobData>(
      ACTIVITY_QUEUE,
      {
        batchSize: this.options.batchSize,
        localConcurrency,
        burstWhenBatchFull: true,
        pollingIntervalSeconds: this.options.pollIntervalSeconds,
        // With LISTEN/NOTIFY on, pg-boss polls only every 30 s by default; a job put back for retry
        // (a crashed worker's) sends no notification, so poll often enough to pick it up promptly.
        notifyPollingIntervalSeconds: Math.max(this.options.pollIntervalSeconds, 2),
      },
      async (jobs) => {
        await Promise.all(jobs.map((job) => this.handle(job)));
      },
    );
  }

  /** Wakes this process's fetch loop at once (jobs were just enqueued here). */
  wake(): void {
    if (this.workerId !== undefined) this.boss.notifyWorker(this.workerId);
  }

  /** Stops fetching; running activities see their signal abort, and unfinished jobs are retried later. */
  async stop(): Promise<void> {
    this.shutdown.abort();
    if (this.workerId !== undefined) await this.boss.offWork(ACTIVITY_QUEUE, { id: this.workerId }).catch(() => undefined);
  }

  private async handle(job: Job<ActivityJobData>): Promise<void> {
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
    const registered = this.registry.getActivity(data.name);
    const timestamp = (): string => new Date().toISOString();
    let event: Parameters<ResultRecorder['record']>[0]['event'];
    if (registered === undefined) {
      event = {
        type: 'TaskFailed',
        taskId: data.taskId,
        timestamp: timestamp(),
        failure: { type: 'ActivityNotRegistered', message: `no activity named '${data.name}' is registered`, nonRetryable: true },
      };
      observed.end('unregistered');
    } else {
      const context: ActivityContext = {
        instanceId: data.instanceId,
        name: registered.name,
        task: { instanceId: data.instanceId, executionId: data.executionId, taskId: data.taskId },
        idempotencyKey: `${data.instanceId}:${data.executionId}:${data.taskId}`,
        attempt: job.retryCount,
        signal: AbortSignal.any([job.signal, this.shutdown.signal]),
      };
      try {
        const input = data.input === undefined ? undefined : JSON.parse(data.input);
        const output = await observed.run(async () => registered.fn(input, context));
        event = { type: 'TaskCompleted', taskId: data.taskId, timestamp: timestamp(), payload: toJson(output) };
        observed.end('completed');
      } catch (err) {
        event = { type: 'TaskFailed', taskId: data.taskId, timestamp: timestamp(), failure: toFailure(err) };
        observed.end('failed');
      }
    }
    // An aborted job signal means the claim is gone (expired and redelivered, cancelled, shutdown): a failure now is
    // most likely that abort, not the activity's outcome, so the redelivery (or the terminal state) decides instead.
    if (job.signal.aborted && (event.type === 'TaskFailed' || this.shutdown.signal.aborted)) return;
    await this.recorder.record({ jobId: job.id, instanceId: data.instanceId, executionId: data.executionId, event });
  }

  private async quarantine(job: Job<ActivityJobData>): Promise<void> {
    const data = job.data;
    this.log.error(
      { instanceId: data.instanceId, executionId: data.executionId, taskId: data.taskId, activity: data.name, deliveries: job.retryCount },
      'activity quarantined',
    );
    await quarantineActivity(this.ctx, this.pool, data, job.retryCount);
  }
}

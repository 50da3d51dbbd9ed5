/**
 * Tasks: what an orchestrator yields. An atomic task stands for one recorded action (activity,
 * timer, sub-orchestration) or an external event; composite tasks (all, any, retry) are built from
 * others. Completion flows from children to parents. Pure: no I/O, no clock.
 */
import { TaskFailedError } from './failures.ts';
import type { FailureDetails } from './history.ts';

export abstract class Task<T = unknown> {
  isCompleted = false;
  isFaulted = false;
  result: T | undefined = undefined;
  exception: Error | undefined = undefined;
  /** @internal the composite task waiting on this one */
  parent: CompositeTask | undefined = undefined;

  /** @internal */
  settle(result: T): void {
    if (this.isCompleted) return;
    this.isCompleted = true;
    this.result = result;
    this.parent?.onChildSettled(this);
  }

  /** @internal */
  fault(error: Error): void {
    if (this.isCompleted) return;
    this.isCompleted = true;
    this.isFaulted = true;
    this.exception = error;
    this.parent?.onChildSettled(this);
  }
}

export type ActionKind = 'ScheduleTask' | 'CreateTimer' | 'CreateSubOrchestration' | 'CallEntity' | 'SignalEntity';

/** A task backed by one recorded action, identified by its task id (its sequence among actions). */
export class AtomicTask<T = unknown> extends Task<T> {
  readonly id: number;
  readonly kind: ActionKind;
  readonly name: string;
  /** @internal times the failed activity ran (its job's deliveries), from its TaskFailed event */
  executions: number | undefined = undefined;
  constructor(id: number, kind: ActionKind, name: string) {
    super();
    this.id = id;
    this.kind = kind;
    this.name = name;
  }

  /** @internal completes from a recorded failure */
  failWith(failure: FailureDetails): void {
    this.fault(new TaskFailedError(this.name, failure, this.kind === 'CreateSubOrchestration' ? 'Orchestrator' : 'Activity'));
  }
}

/** A durable timer. Cancelling it lets a `Task.any` move on; its firing is then ignored. */
export class TimerTask extends AtomicTask<undefined> {
  readonly fireAt: Date;
  /** Durable Functions' TimerTask API: true once cancel() was called (the engine reads no such flag: the timer's firing is simply not awaited any more). */
  isCanceled = false;
  constructor(id: number, fireAt: Date) {
    super(id, 'CreateTimer', 'timer');
    this.fireAt = fireAt;
  }
  cancel(): void {
    if (this.isCompleted) throw new Error('a completed timer cannot be cancelled');
    this.isCanceled = true;
  }
}

/** Waits for an external event raised to the instance. */
export class EventTask<T = unknown> extends Task<T> {
  readonly name: string;
  constructor(name: string) {
    super();
    this.name = name;
  }
}

export abstract class CompositeTask<T = unknown> extends Task<T> {
  readonly children: Task[];
  constructor(children: Task[]) {
    super();
    this.children = children;
    for (const child of children) {
      // A task reports to one composite. Moving it to a new one is fine once either side is settled
      // (e.g. one deadline timer reused by a Task.any in each round of a loop, as Durable Functions
      // allows); a pending task in two pending composites would leave one waiting forever.
      const previous = child.parent;
      if (previous !== undefined && previous !== this && !previous.isCompleted && !child.isCompleted) {
        throw new Error('a pending task can be part of only one pending Task.all / Task.any');
      }
      child.parent = this;
    }
  }
  /** @internal */
  abstract onChildSettled(child: Task): void;
  /** @internal settles at once if the children already are */
  abstract initialize(): void;
}

/**
 * One child at a time: the first is given at construction, each next one (a timer, another attempt,
 * a poll) is adopted when the one before settles. Retries and callHttp's polling are this.
 */
export abstract class SequenceTask<T = unknown> extends CompositeTask<T> {
  initialize(): void {
    const first = this.children[0] as Task;
    if (first.isCompleted) this.onChildSettled(first);
  }

  /** Appends the next child; settles through onChildSettled at once if it already is (replay). */
  protected adopt(task: AtomicTask): void {
    task.parent = this;
    this.children.push(task);
    if (task.isCompleted) this.onChildSettled(task);
  }
}

/** Completes with every child's result, in order; fails as soon as one child fails. */
export class WhenAllTask<T = unknown> extends CompositeTask<T[]> {
  /**
   * Children not yet completed. A count, not a scan per completion: scanning made the results of a
   * 10,000-task fan-out quadratic (measured: applying the last 2,000 of 10,000 results took 93 ms of
   * CPU in one turn, against 20 ms for the first 2,000).
   */
  private pending = 0;

  initialize(): void {
    const failed = this.children.find((c) => c.isFaulted);
    if (failed) {
      this.fault(failed.exception as Error);
      return;
    }
    // Distinct tasks: Task.all([t, t]) hears of t once.
    this.pending = new Set(this.children.filter((c) => !c.isCompleted)).size;
    if (this.pending === 0) this.settle(this.children.map((c) => c.result as T));
  }
  onChildSettled(child: Task): void {
    if (this.isCompleted) return;
    if (child.isFaulted) {
      this.fault(child.exception as Error);
      return;
    }
    this.pending--;
    if (this.pending === 0) this.settle(this.children.map((c) => c.result as T));
  }
}

/** Completes with the first child to settle (success or failure): the result is that task. */
export class WhenAnyTask extends CompositeTask<Task> {
  initialize(): void {
    const first = this.children.find((c) => c.isCompleted);
    if (first) this.settle(first);
  }
  onChildSettled(child: Task): void {
    if (!this.isCompleted) this.settle(child);
  }
}

/** Retry policy, as in Durable Functions' RetryOptions (intervals in milliseconds). */
export class RetryOptions {
  readonly firstRetryIntervalInMilliseconds: number;
  readonly maxNumberOfAttempts: number;
  backoffCoefficient = 1;
  maxRetryIntervalInMilliseconds = Number.MAX_SAFE_INTEGER;
  retryTimeoutInMilliseconds = Number.MAX_SAFE_INTEGER;
  constructor(firstRetryIntervalInMilliseconds: number, maxNumberOfAttempts: number) {
    if (!(firstRetryIntervalInMilliseconds > 0)) throw new RangeError('firstRetryIntervalInMilliseconds must be greater than 0');
    if (!(maxNumberOfAttempts >= 1)) throw new RangeError('maxNumberOfAttempts must be at least 1');
    this.firstRetryIntervalInMilliseconds = firstRetryIntervalInMilliseconds;
    this.maxNumberOfAttempts = maxNumberOfAttempts;
  }
}

/** What a retrying task needs from the executor to make its next attempt. */
export interface RetryScheduler {
  now(): Date;
  createTimer(fireAt: Date): TimerTask;
  again(): AtomicTask;
}

/**
 * Runs an attempt; on failure waits (a durable timer) and runs another, until one succeeds, the
 * attempts or the retry timeout run out, or the failure is marked non-retryable.
 */
export class RetryableTask<T = unknown> extends SequenceTask<T> {
  private readonly options: RetryOptions;
  private readonly scheduler: RetryScheduler;
  private readonly startedAt: number;
  private attempts = 1;
  private lastFailure: Error | undefined;

  constructor(first: AtomicTask, options: RetryOptions, scheduler: RetryScheduler) {
    super([first]);
    this.options = options;
    this.scheduler = scheduler;
    this.startedAt = scheduler.now().getTime();
  }

  onChildSettled(child: Task): void {
    if (this.isCompleted) return;
    if (child instanceof TimerTask) {
      this.adopt(this.scheduler.again());
      return;
    }
    if (!child.isFaulted) {
      this.settle(child.result as T);
      return;
    }
    this.lastFailure = child.exception;
    const failure = (child.exception as TaskFailedError | undefined)?.failure;
    const delay = Math.min(
      this.options.firstRetryIntervalInMilliseconds * this.options.backoffCoefficient ** (this.attempts - 1),
      this.options.maxRetryIntervalInMilliseconds,
    );
    const fireAt = this.scheduler.now().getTime() + delay;
    if (
      failure?.nonRetryable === true ||
      this.attempts >= this.options.maxNumberOfAttempts ||
      fireAt > this.startedAt + this.options.retryTimeoutInMilliseconds
    ) {
      this.fault(this.lastFailure as Error);
      return;
    }
    this.attempts++;
    this.adopt(this.scheduler.createTimer(new Date(fireAt)));
  }
}

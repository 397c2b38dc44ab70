import type { JobHandle, TaskOutcome } from '@phys/core';
import { type ExecutionStatus, isTerminal, type PhysErrorCode, SchedulerError } from '@phys/core';

/** A promise together with the functions that settle it. @public */
export interface Deferred<T> {
  /** Settles when `resolve` or `reject` is first called. */
  readonly promise: Promise<T>;
  /** Fulfils `promise` with `value`. */
  readonly resolve: (value: T) => void;
  /** Rejects `promise` with `reason`. */
  readonly reject: (reason: unknown) => void;
}

/**
 * A promise to settle later, from code that is not its executor (a poll loop, a child's exit).
 * @public
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * What a {@link JobTable} needs of a scheduler's own job record; the record may hold anything
 * else besides. `outcome` and `resolve` are typically the two halves of a {@link deferred}.
 * @public
 */
export interface TrackedJob {
  /** Where the job stands; only forward, and terminal once {@link JobTable.settle} ran. */
  status: ExecutionStatus;
  /** Resolves with the job's outcome once it ended. */
  readonly outcome: Promise<TaskOutcome>;
  /** Resolves `outcome`; called by {@link JobTable.settle}. */
  readonly resolve: (outcome: TaskOutcome) => void;
}

/** Options of {@link JobTable}. @public */
export interface JobTableOptions {
  /** How errors name the scheduler, e.g. `'SlurmScheduler'`. */
  readonly scheduler: string;
  /** Code of the error for a handle the scheduler never returned (default `PHYS_SCHEDULER`). */
  readonly unknownJobCode?: PhysErrorCode;
}

/**
 * The jobs a scheduler submitted, by handle: the `poll`, `wait` and settle bookkeeping every
 * scheduler needs, with one clear error for a handle it never returned.
 *
 * @example
 * ```ts
 * readonly #jobs = new JobTable<MyJob>({ scheduler: 'MyScheduler', unknownJobCode: 'PHYS_SCHEDULER_MY_UNKNOWN_JOB' });
 * poll(handle: JobHandle) { return this.#jobs.status(handle); }
 * wait(handle: JobHandle) { return this.#jobs.outcome(handle); }
 * ```
 * @public
 */
export class JobTable<TJob extends TrackedJob> {
  readonly #jobs = new Map<string, TJob>();
  readonly #scheduler: string;
  readonly #unknownJobCode: PhysErrorCode;

  constructor(options: JobTableOptions) {
    this.#scheduler = options.scheduler;
    this.#unknownJobCode = options.unknownJobCode ?? 'PHYS_SCHEDULER';
  }

  /** How many jobs are tracked, ended ones included. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Tracks `job` under `handle.jobId`; a job id can be tracked once only. */
  add(handle: JobHandle, job: TJob): void {
    if (this.#jobs.has(handle.jobId)) {
      // Two jobs under one id would share one outcome: a scheduler bug, never the caller's.
      throw new SchedulerError(
        'PHYS_SCHEDULER',
        `${this.#scheduler} tracks job '${handle.jobId}' already (node '${handle.nodeId}' was given the same job id): every submission needs an id of its own.`,
        { details: this.#details(handle) },
      );
    }
    this.#jobs.set(handle.jobId, job);
  }

  /** Whether `handle` names a job of this table. */
  has(handle: JobHandle): boolean {
    return this.#jobs.has(handle.jobId);
  }

  /** The job behind `handle`; throws a `SchedulerError` naming the job, node and scheduler when there is none. */
  get(handle: JobHandle): TJob {
    const job = this.#jobs.get(handle.jobId);
    if (job === undefined) {
      throw new SchedulerError(
        this.#unknownJobCode,
        `Unknown job '${handle.jobId}' (node '${handle.nodeId}', attempt ${handle.attempt}): it was not submitted to this ${this.#scheduler}. Pass a handle that this scheduler's submit() returned.`,
        { details: this.#details(handle) },
      );
    }
    return job;
  }

  /** The job's status now, as `Scheduler.poll` reports it; rejects for an unknown handle. */
  async status(handle: JobHandle): Promise<ExecutionStatus> {
    return this.get(handle).status;
  }

  /** The job's outcome, as `Scheduler.wait` reports it; rejects (never throws) for an unknown handle. */
  outcome(handle: JobHandle): Promise<TaskOutcome> {
    try {
      return this.get(handle).outcome;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Ends `job` with `outcome`: its status becomes the outcome's and `outcome` resolves. A job
   * ends once: returns false, changing nothing, when it had ended already.
   */
  settle(job: TJob, outcome: TaskOutcome): boolean {
    if (isTerminal(job.status)) return false;
    job.status = outcome.status;
    job.resolve(outcome);
    return true;
  }

  /** Every tracked job, in the order they were added. */
  values(): IterableIterator<TJob> {
    return this.#jobs.values();
  }

  #details(handle: JobHandle): Record<string, unknown> {
    return {
      jobId: handle.jobId,
      nodeId: handle.nodeId,
      attempt: handle.attempt,
      scheduler: this.#scheduler,
    };
  }
}

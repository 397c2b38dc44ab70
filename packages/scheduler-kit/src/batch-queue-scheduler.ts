import type {
  JobHandle,
  Logger,
  Scheduler,
  SchedulerCapabilities,
  SchedulerTask,
  TaskOutcome,
} from '@phys/core';
import {
  CancelledError,
  ExecutionStatus,
  isTerminal,
  PhysError,
  SchedulerError,
  silentLogger,
  TimeoutError,
} from '@phys/core';
import type { BatchJobRecord, BatchQueueBackend } from './batch-queue-backend.js';
import { type Job, merged, type QueueContext } from './batch-queue-job.js';
import { Cancellations } from './cancellations.js';
import { JobOutcomes } from './job-outcomes.js';
import { JobTable } from './job-table.js';
import { StallWatch } from './stall-watch.js';
import { Submissions } from './submissions.js';

/** Options of {@link BatchQueueScheduler}. @public */
export interface BatchQueueSchedulerOptions {
  /** Absolute path of the `phys.config.*` every job loads to rebuild its stage. */
  readonly configFile: string;
  /** Absolute work directory on a filesystem the compute nodes share. */
  readonly workDir: string;
  /**
   * argv that executes a task envelope inside a job (the envelope's path is appended), or a
   * function giving it, called once at the first submission.
   */
  readonly taskCommand: readonly string[] | (() => readonly string[]);
  /** Prefix of the codes of the scheduler's own errors: `PHYS_SCHEDULER_SLURM` → `…_CLOSED`, `…_UNKNOWN_JOB`, `…_WORKDIR`. */
  readonly codePrefix: string;
  /** Warnings (a failing status command, a failed cancel) and debug lines (default: silent). */
  readonly logger?: Logger | undefined;
  /** Seconds ready tasks are collected so that tasks of one stage share a submission (default 0: the same tick). */
  readonly batchWindowSeconds?: number | undefined;
  /** Most tasks in one submission; larger batches are split (default 1000). */
  readonly maxBatchSize?: number | undefined;
  /** Status polling: first interval, growth while nothing changes, and the cap, in seconds (default 2, 1.5, 30). */
  readonly poll?:
    | {
        readonly initialSeconds?: number | undefined;
        readonly multiplier?: number | undefined;
        readonly maxSeconds?: number | undefined;
      }
    | undefined;
  /** Seconds to wait for the result file of a job that ended saying it wrote one (shared filesystems lag; default 60). */
  readonly resultTimeoutSeconds?: number | undefined;
  /** Seconds a job must be missing from the batch system (and leave no result) before it is declared lost (default 0; it is always 3 polls). */
  readonly lostAfterSeconds?: number | undefined;
  /**
   * Seconds a job may stay stalled, as the backend's `stalls` reports it (its node down or not
   * responding, no node it may run on able to start it), before it is cancelled and fails with
   * `PHYS_JOB_NODE_FAIL`, which a retry policy may retry (default 120). The stall is logged as
   * a warning as soon as it is seen.
   */
  readonly stuckAfterSeconds?: number | undefined;
  /** Cancel the jobs still queued or running when the scheduler closes (default true). */
  readonly cancelOnClose?: boolean | undefined;
  /** Keep the directories of completed tasks (default false; failed ones are always kept). */
  readonly keepWorkDirs?: boolean | undefined;
  /**
   * Make sure the work directory is private to this user before the first submission writes
   * into it (see `ensurePrivateDir`): created with mode 0700, and refused with
   * `PHYS_WORKDIR_UNSAFE` when it is a symbolic link, another user's or writable by others. For
   * a default the user did not choose (default false).
   */
  readonly privateWorkDir?: boolean | undefined;
}

/** Options of {@link BatchQueueScheduler.submit} beyond the task. @public */
export interface BatchSubmitOptions {
  /**
   * Start only after these jobs (of this scheduler) completed successfully. Needs
   * `capabilities.dependencies`.
   */
  readonly afterOk?: readonly JobHandle[] | undefined;
}

/** What a {@link BatchQueueScheduler} did so far. @public */
export interface BatchQueueStats {
  /** Status checks: each makes exactly one `query` call. */
  readonly polls: number;
  /** Tasks handed to the batch system. */
  readonly tasks: number;
  /** `submit` calls that succeeded. */
  readonly submissions: number;
  /** Of those, how many held more than one task (job arrays). */
  readonly arrays: number;
}

/**
 * A scheduler for queue-based clusters (Slurm, PBS, LSF, ...), written once over a small
 * {@link BatchQueueBackend}. Ready tasks of one stage that arrive within the batch window go
 * out in one submission (a job array) as task envelopes under `workDir`; one `query` per poll
 * interval watches every job, backing off while nothing changes; `timeoutSeconds` is enforced
 * from when a poll first sees the job running; cancellations of one moment share one `cancel`
 * call. A job's result file decides its outcome; the batch system's state explains endings
 * that left none, as `PHYS_TIMEOUT`, `PHYS_CANCELLED` or a `PHYS_JOB_*` code of
 * `JobFailureError` with the scheduler's name and native state.
 *
 * @example
 * ```ts
 * export class LsfScheduler extends BatchQueueScheduler<LsfRecord> {
 *   constructor(options: LsfOptions) {
 *     super(new LsfBackend(options), { ...options, codePrefix: 'PHYS_SCHEDULER_LSF' });
 *   }
 * }
 * ```
 * @public
 */
export class BatchQueueScheduler<TRecord extends BatchJobRecord = BatchJobRecord>
  implements Scheduler
{
  /** The backend's name. */
  readonly name: string;
  /** The backend's capabilities, with `cancel: true`. */
  readonly capabilities: SchedulerCapabilities;
  /** The config file every job loads. */
  readonly configFile: string;
  /** Where task envelopes, job scripts and job logs are written. */
  readonly workDir: string;

  readonly #ctx: QueueContext<TRecord>;
  readonly #outcomes: JobOutcomes<TRecord>;
  readonly #stalls: StallWatch<TRecord>;
  readonly #cancellations: Cancellations<TRecord>;
  readonly #submissions: Submissions<TRecord>;
  readonly #poll: { readonly initial: number; readonly multiplier: number; readonly max: number };
  readonly #cancelOnClose: boolean;
  #pollTimer: NodeJS.Timeout | undefined;
  #pollAt = 0;
  #polling = false;
  #pollDone: Promise<unknown> = Promise.resolve();
  #interval: number;
  #queryFailingSince: number | undefined;
  #closed = false;
  #polls = 0;

  constructor(backend: BatchQueueBackend<TRecord>, options: BatchQueueSchedulerOptions) {
    this.name = backend.name;
    this.capabilities = Object.freeze({
      ...backend.capabilities,
      cancel: true,
      reportsStart: true,
    });
    this.configFile = options.configFile;
    this.workDir = options.workDir;
    const label = new.target.name;
    this.#ctx = {
      backend,
      logger: options.logger ?? silentLogger,
      label,
      prefix: options.codePrefix,
      jobs: new JobTable({ scheduler: label, unknownJobCode: `${options.codePrefix}_UNKNOWN_JOB` }),
      active: new Set<Job<TRecord>>(),
    };
    this.#poll = {
      initial: options.poll?.initialSeconds ?? 2,
      multiplier: options.poll?.multiplier ?? 1.5,
      max: options.poll?.maxSeconds ?? 30,
    };
    this.#interval = this.#poll.initial;
    this.#cancelOnClose = options.cancelOnClose ?? true;
    const keepWorkDirs = options.keepWorkDirs ?? false;
    this.#outcomes = new JobOutcomes(this.#ctx, {
      resultTimeoutSeconds: options.resultTimeoutSeconds ?? 60,
      lostAfterSeconds: options.lostAfterSeconds ?? 0,
      keepWorkDirs,
    });
    this.#stalls = new StallWatch(this.#ctx, this.#outcomes, options.stuckAfterSeconds ?? 120);
    this.#cancellations = new Cancellations(this.#ctx, this.#outcomes, {
      retryDelaySeconds: this.#poll.initial,
      onAccepted: () => {
        this.#interval = this.#poll.initial;
        this.#schedulePoll(Math.min(this.#interval, 0.5));
      },
    });
    const command = options.taskCommand;
    this.#submissions = new Submissions(this.#ctx, this.#cancellations, {
      configFile: options.configFile,
      workDir: options.workDir,
      command: typeof command === 'function' ? command : () => command,
      windowMs: (options.batchWindowSeconds ?? 0) * 1000,
      maxBatch: options.maxBatchSize ?? 1000,
      privateWorkDir: options.privateWorkDir ?? false,
      onSubmitted: () => {
        this.#interval = this.#poll.initial;
        this.#schedulePoll(this.#nextPollIn());
      },
      closedError: () =>
        this.#closedError(`The ${label} was closed before the task was submitted.`),
    });
  }

  /** Polls, tasks, submissions and arrays so far. */
  get queueStats(): BatchQueueStats {
    return { polls: this.#polls, ...this.#submissions.stats };
  }

  /**
   * Queues a task for the next submission and resolves with its handle once the batch system
   * accepted it. Rejects at once what can never run.
   */
  submit(task: SchedulerTask, options: BatchSubmitOptions = {}): Promise<JobHandle> {
    if (this.#closed)
      return Promise.reject(
        this.#closedError(`The ${this.#ctx.label} is closed; create a new one.`),
      );
    return this.#submissions.submit(task, options);
  }

  // ---- the Scheduler contract ---------------------------------------------------------------

  /** The status the last poll saw (no command is run). */
  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#ctx.jobs.status(handle);
  }

  /** Resolves with the task's outcome once its job ended and its result (or failure) was read. */
  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#ctx.jobs.outcome(handle);
  }

  /** Cancels the job; cancellations of one moment share one backend call. No-op once it ended. */
  async cancel(handle: JobHandle): Promise<void> {
    await this.#cancellations.request(this.#ctx.jobs.get(handle), undefined, true);
  }

  /** Stops polling, and cancels the jobs still queued or running (unless `cancelOnClose` is false); they end CANCELLED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#submissions.close();
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    // A poll may still be cleaning up after the jobs it just settled.
    await this.#pollDone;
    this.#cancellations.clearTimers();
    // Run directories whose tasks all succeeded are empty by now; failed tasks keep theirs.
    await this.#submissions.removeEmptyRunDirs();
    const active = [...this.#ctx.active];
    if (active.length === 0) return;
    if (this.#cancelOnClose) {
      await this.#ctx.backend
        .cancel(active.map((j) => j.handle.jobId))
        .catch((error: unknown) =>
          this.#ctx.logger.warn(`Cancelling the jobs on close failed: ${String(error)}`),
        );
    }
    for (const job of active) {
      this.#outcomes.settleError(
        job,
        ExecutionStatus.CANCELLED,
        new CancelledError(
          `Node '${job.handle.nodeId}' was cancelled: the ${this.#ctx.label} was closed while ${this.#ctx.backend.name} job ${job.handle.jobId} was ${job.record?.nativeState ?? 'queued'}.`,
          { details: this.#outcomes.details(job) },
        ),
      );
    }
  }

  // ---- polling ------------------------------------------------------------------------------

  #schedulePoll(seconds: number): void {
    if (this.#closed) return;
    const at = performance.now() + seconds * 1000;
    if (this.#pollTimer !== undefined) {
      if (at >= this.#pollAt) return;
      clearTimeout(this.#pollTimer);
    }
    this.#pollAt = at;
    this.#pollTimer = setTimeout(this.#tick, seconds * 1000);
  }

  /** The poll interval, shortened to the next timeout of a running job. */
  #nextPollIn(): number {
    let seconds = this.#interval;
    const now = performance.now();
    for (const job of this.#ctx.active) {
      if (job.cancelRequested) continue;
      if (job.deadline !== undefined)
        seconds = Math.min(seconds, Math.max(0.01, (job.deadline - now) / 1000));
      if (job.stalledSince !== undefined) {
        const due = job.stalledSince + this.#stalls.stuckAfter * 1000;
        seconds = Math.min(seconds, Math.max(0.01, (due - now) / 1000));
      }
    }
    return seconds;
  }

  readonly #tick = (): void => {
    this.#pollTimer = undefined;
    if (this.#polling) {
      this.#schedulePoll(this.#nextPollIn());
      return;
    }
    this.#polling = true;
    this.#pollDone = this.#pollOnce()
      .catch((error: unknown) => {
        this.#ctx.logger.warn(`${this.#ctx.backend.name} status check failed: ${String(error)}`);
        return false;
      })
      .then((changed) => {
        this.#polling = false;
        if (this.#ctx.active.size === 0 || this.#closed) return;
        const { initial, multiplier, max } = this.#poll;
        this.#interval = changed
          ? initial
          : Math.min(max, Math.max(initial, this.#interval * multiplier));
        this.#schedulePoll(this.#nextPollIn());
      });
  };

  /** One status check of every active job; true when any of them changed. */
  async #pollOnce(): Promise<boolean> {
    if (this.#ctx.active.size === 0) return false;
    this.#polls++;
    this.#enforceTimeouts();
    // Jobs submitted while the query runs are not in its answer: judge only the ones asked about.
    const asked = [...this.#ctx.active];
    let records: ReadonlyMap<string, TRecord>;
    try {
      records = await this.#ctx.backend.query(asked.map((j) => j.handle.jobId));
    } catch (error) {
      this.#queryFailed(error);
      return false;
    }
    this.#queryFailingSince = undefined;
    const now = performance.now();
    let changed = false;
    const ended: { job: Job<TRecord>; record: TRecord | undefined }[] = [];
    for (const job of asked) {
      if (isTerminal(job.status)) continue;
      const record = records.get(job.handle.jobId);
      if (record === undefined) {
        ended.push({ job, record: undefined });
        continue;
      }
      job.missingPolls = 0;
      job.missingSince = undefined;
      if (record.nativeState !== job.record?.nativeState || record.reason !== job.record?.reason)
        changed = true;
      job.record = merged(job.record, record);
      const state = this.#ctx.backend.mapState(record);
      if (state.terminal) {
        ended.push({ job, record: job.record });
      } else if (state.failure !== undefined) {
        changed = true;
        await this.#stalls.stuck(job, state.failure);
      } else if (
        state.status === ExecutionStatus.RUNNING &&
        job.status === ExecutionStatus.QUEUED
      ) {
        // Statuses only move forward: a job the batch system requeues stays RUNNING.
        this.#outcomes.ran(job);
        if (job.task.timeoutSeconds !== undefined)
          job.deadline = now + job.task.timeoutSeconds * 1000;
      }
    }
    if (ended.length > 0 && (await this.#outcomes.collect(ended))) changed = true;
    if (await this.#stalls.check(asked)) changed = true;
    return changed;
  }

  /**
   * `timeoutSeconds` counts from when a poll first saw the job running; batch systems count
   * their own limits coarsely (Slurm in minutes), so the scheduler cancels it itself.
   */
  #enforceTimeouts(): void {
    const now = performance.now();
    for (const job of this.#ctx.active) {
      if (job.deadline === undefined || job.cancelRequested || now < job.deadline) continue;
      const { jobId, nodeId, attempt } = job.handle;
      const seconds = job.task.timeoutSeconds;
      const reason = new TimeoutError(
        `Node '${nodeId}' exceeded its timeout of ${seconds} s (attempt ${attempt}, ${this.#ctx.backend.name} job ${jobId}).`,
        {
          details: {
            nodeId,
            attempt,
            timeoutSeconds: seconds,
            scheduler: this.#ctx.backend.name,
            jobId,
          },
        },
      );
      this.#cancellations
        .request(job, reason, false)
        .catch((error: unknown) =>
          this.#ctx.logger.warn(
            `Cancelling ${this.#ctx.backend.name} job ${jobId} at its timeout failed: ${String(error)}`,
          ),
        );
    }
  }

  #queryFailed(error: unknown): void {
    const now = performance.now();
    this.#queryFailingSince ??= now;
    const failingFor = (now - this.#queryFailingSince) / 1000;
    const hopeless = PhysError.is(error) && !error.retryable;
    const why = error instanceof Error ? error.message : String(error);
    if (!hopeless && failingFor < Math.max(300, 10 * this.#poll.max)) {
      this.#ctx.logger.warn(
        `${this.#ctx.backend.name} status check failed (${why}); checking again later`,
      );
      return;
    }
    for (const job of [...this.#ctx.active]) {
      this.#outcomes.settleError(
        job,
        ExecutionStatus.FAILED,
        new SchedulerError(
          PhysError.is(error) ? error.code : 'PHYS_SCHEDULER',
          `Lost track of ${this.#ctx.backend.name} job ${job.handle.jobId} (node '${job.handle.nodeId}'): ${why}${hopeless ? '' : ` (for ${Math.round(failingFor)} s)`}. The job may still run; its work directory is ${job.dir}.`,
          { cause: error, retryable: true, details: this.#outcomes.details(job) },
        ),
      );
    }
  }

  #closedError(message: string): SchedulerError {
    return new SchedulerError(`${this.#ctx.prefix}_CLOSED`, message);
  }
}

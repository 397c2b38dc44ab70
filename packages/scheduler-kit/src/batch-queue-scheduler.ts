import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  GrantedResources,
  JobFailureReason,
  JobHandle,
  Logger,
  ResourceRequirements,
  Scheduler,
  SchedulerCapabilities,
  SchedulerTask,
  StageRef,
  TaskOutcome,
} from '@phys/core';
import {
  CancelledError,
  ExecutionStatus,
  isTerminal,
  JobFailureError,
  normalizeResources,
  PhysError,
  SchedulerError,
  serializeError,
  silentLogger,
  TimeoutError,
} from '@phys/core';
import type { BatchJobRecord, BatchQueueBackend, BatchTask } from './batch-queue-backend.js';
import {
  jobGrant,
  type ReadResult,
  readResultEnvelope,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from './envelope.js';
import { describeRequest, exitHint, jobEnding, reasonOf, tailText } from './job-ending.js';
import { logTail, safeFileName } from './job-files.js';
import { deferred, JobTable, type TrackedJob } from './job-table.js';
import { resultOutcome } from './result-outcome.js';

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

interface Pending {
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly resolve: (handle: JobHandle) => void;
  readonly reject: (error: unknown) => void;
}

interface Group {
  readonly runId: string;
  readonly stage: StageRef;
  readonly afterOk: readonly string[];
  readonly tasks: Pending[];
}

interface Batch {
  readonly dir: string;
  readonly size: number;
  succeeded: number;
}

interface Job<TRecord> extends TrackedJob {
  readonly handle: JobHandle;
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly batch: Batch;
  readonly dir: string;
  readonly envelopeFile: string;
  readonly logFile: string;
  readonly granted: GrantedResources;
  /** The latest record, with an exit code learnt from a lookup kept. */
  record: TRecord | undefined;
  cancelRequested: boolean;
  /** The cancel was asked for from outside (the task's signal, `cancel()`), not by a timeout. */
  cancelFromOutside: boolean;
  cancelReason: unknown;
  cancelling: Promise<void> | undefined;
  /** What the backend's `stalls` last said is wrong with the job's nodes, and since when. */
  stall: string | undefined;
  stalledSince: number | undefined;
  /** When a running job passes `timeoutSeconds` (performance clock, ms). */
  deadline: number | undefined;
  missingPolls: number;
  missingSince: number | undefined;
  awaitingResultSince: number | undefined;
  lookedUp: boolean;
  readonly unlisten: () => void;
}

type Ending = 'settled' | 'lookup' | 'pending';

const WRITE_CONCURRENCY = 16;
/** Polls a job must be missing (without a result) before it is declared lost. */
const LOST_AFTER_POLLS = 3;
/** Jobs one poll looks up at most; the rest wait for the next poll. */
const MAX_LOOKUP = 5000;
/**
 * Once the batch system accepted a cancel, the job normally ends by the next poll. One it still
 * lists after this long (its node does not answer, so it stays COMPLETING) is reported cancelled
 * without waiting any longer: a cancelled run ends within seconds whatever the cluster does.
 */
const CANCEL_SETTLE_MS = 3000;
/** Jobs named in one stall warning; the rest are counted. */
const NAMED_IN_WARNING = 5;

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

  readonly #backend: BatchQueueBackend<TRecord>;
  readonly #label: string;
  readonly #prefix: string;
  readonly #logger: Logger;
  readonly #command: () => readonly string[];
  #commandCache: readonly string[] | undefined;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #poll: { readonly initial: number; readonly multiplier: number; readonly max: number };
  readonly #resultTimeout: number;
  readonly #lostAfter: number;
  readonly #stuckAfter: number;
  readonly #cancelOnClose: boolean;
  readonly #keepWorkDirs: boolean;
  readonly #jobs: JobTable<Job<TRecord>>;
  readonly #active = new Set<Job<TRecord>>();
  readonly #groups = new Map<string, Group>();
  #flushScheduled: (() => void) | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #pollTimer: NodeJS.Timeout | undefined;
  #pollAt = 0;
  #polling = false;
  #pollDone: Promise<unknown> = Promise.resolve();
  #interval: number;
  #queryFailingSince: number | undefined;
  #cancelBatch: { readonly jobs: Set<Job<TRecord>>; readonly done: Promise<void> } | undefined;
  readonly #cancelTimers = new Set<NodeJS.Timeout>();
  /** Submissions in flight, aborted when the scheduler closes. */
  readonly #submitting = new Set<AbortController>();
  #stallCheckFailed = false;
  #closed = false;
  #batchSeq = 0;
  readonly #runDirs = new Set<string>();
  #stats = { polls: 0, tasks: 0, submissions: 0, arrays: 0 };

  constructor(backend: BatchQueueBackend<TRecord>, options: BatchQueueSchedulerOptions) {
    this.#backend = backend;
    this.name = backend.name;
    this.capabilities = Object.freeze({
      ...backend.capabilities,
      cancel: true,
      reportsStart: true,
    });
    this.configFile = options.configFile;
    this.workDir = options.workDir;
    this.#label = new.target.name;
    this.#prefix = options.codePrefix;
    this.#logger = options.logger ?? silentLogger;
    const command = options.taskCommand;
    this.#command = typeof command === 'function' ? command : () => command;
    this.#windowMs = (options.batchWindowSeconds ?? 0) * 1000;
    this.#maxBatch = options.maxBatchSize ?? 1000;
    this.#poll = {
      initial: options.poll?.initialSeconds ?? 2,
      multiplier: options.poll?.multiplier ?? 1.5,
      max: options.poll?.maxSeconds ?? 30,
    };
    this.#interval = this.#poll.initial;
    this.#resultTimeout = options.resultTimeoutSeconds ?? 60;
    this.#lostAfter = options.lostAfterSeconds ?? 0;
    this.#stuckAfter = options.stuckAfterSeconds ?? 120;
    this.#cancelOnClose = options.cancelOnClose ?? true;
    this.#keepWorkDirs = options.keepWorkDirs ?? false;
    this.#jobs = new JobTable({
      scheduler: this.#label,
      unknownJobCode: `${this.#prefix}_UNKNOWN_JOB`,
    });
  }

  /** Polls, tasks, submissions and arrays so far. */
  get queueStats(): BatchQueueStats {
    return { ...this.#stats };
  }

  // ---- submission -------------------------------------------------------------------------

  /**
   * Queues a task for the next submission and resolves with its handle once the batch system
   * accepted it. Rejects at once what can never run.
   */
  submit(task: SchedulerTask, options: BatchSubmitOptions = {}): Promise<JobHandle> {
    if (this.#closed)
      return Promise.reject(this.#closedError(`The ${this.#label} is closed; create a new one.`));
    let req: ResourceRequirements;
    let key: string;
    let afterOk: string[];
    try {
      req = normalizeResources(task.resources);
      key = this.#backend.batchKey(task, req);
      afterOk = (options.afterOk ?? []).map((h) => this.#jobs.get(h).handle.jobId);
      if (afterOk.length > 0 && !this.capabilities.dependencies) {
        throw new SchedulerError(
          `${this.#prefix}_DEPENDENCIES`,
          `The ${this.#label} cannot make a job wait for others (afterOk); submit node '${task.nodeId}' once its dependencies ended.`,
        );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const groupKey = JSON.stringify([
      task.runId,
      task.stage.name,
      task.stage.version,
      key,
      afterOk,
    ]);
    let group = this.#groups.get(groupKey);
    if (group === undefined) {
      group = { runId: task.runId, stage: task.stage, afterOk, tasks: [] };
      this.#groups.set(groupKey, group);
    }
    const target = group;
    const promise = new Promise<JobHandle>((resolve, reject) => {
      target.tasks.push({ task, req, resolve, reject });
    });
    if (this.#flushScheduled === undefined) {
      if (this.#windowMs > 0) {
        const timer = setTimeout(this.#flush, this.#windowMs);
        this.#flushScheduled = () => clearTimeout(timer);
      } else {
        const immediate = setImmediate(this.#flush);
        this.#flushScheduled = () => clearImmediate(immediate);
      }
    }
    return promise;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = undefined;
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    // One submission at a time: a burst of them is what makes a controller slow for everyone.
    this.#flushing = this.#flushing.then(async () => {
      for (const group of groups) {
        const live: Pending[] = [];
        for (const p of group.tasks) {
          if (p.task.signal?.aborted === true) p.reject(abortReason(p.task));
          else live.push(p);
        }
        for (let at = 0; at < live.length; at += this.#maxBatch) {
          const chunk = live.slice(at, at + this.#maxBatch);
          try {
            await this.#submitBatch(group, chunk);
          } catch (error) {
            for (const p of chunk) {
              p.reject(
                p.task.signal?.aborted === true ? abortReason(p.task) : forTask(error, p.task),
              );
            }
          }
        }
      }
    });
  };

  async #submitBatch(group: Group, chunk: readonly Pending[]): Promise<void> {
    if (this.#closed)
      throw this.#closedError(`The ${this.#label} was closed before the task was submitted.`);
    this.#commandCache ??= this.#command();
    const runDir = join(this.workDir, safeFileName(group.runId));
    await mkdir(runDir, { recursive: true });
    this.#runDirs.add(runDir);
    const dir = await this.#batchDir(runDir, safeFileName(group.stage.name));
    try {
      const pending = await this.#writeEnvelopes(dir, chunk);
      if (pending.length === 0) {
        await rm(dir, { recursive: true, force: true });
        return;
      }
      await writeFile(
        join(dir, 'nodes.tsv'),
        `index\tnode\tattempt\n${pending.map((p, i) => `${i}\t${p.task.nodeId}\t${p.task.attempt}`).join('\n')}\n`,
      );
      const tasks: BatchTask[] = pending.map((p, i) => ({
        task: p.task,
        resources: p.req,
        dir: join(dir, String(i)),
        envelopeFile: join(dir, String(i), 'task.json'),
        logFile: join(dir, String(i), this.#backend.logFileName),
      }));
      const abort = new AbortController();
      this.#submitting.add(abort);
      const unlisten = abortWhenAllAborted(pending, abort);
      let ids: readonly string[];
      try {
        ids = await this.#backend.submit({
          dir,
          runId: group.runId,
          stage: group.stage,
          tasks,
          command: this.#commandCache,
          afterOk: group.afterOk,
          signal: abort.signal,
        });
      } finally {
        unlisten();
        this.#submitting.delete(abort);
      }
      if (ids.length !== tasks.length) {
        throw new SchedulerError(
          'PHYS_SCHEDULER',
          `The ${this.#backend.name} backend returned ${ids.length} job id(s) for ${tasks.length} task(s); it must return one per task.`,
        );
      }
      this.#stats.submissions++;
      this.#stats.tasks += tasks.length;
      if (tasks.length > 1) this.#stats.arrays++;
      this.#logger.debug(
        `submitted ${tasks.length} task(s) of ${group.stage.name} to ${this.#backend.name}: ${ids[0]}${ids.length > 1 ? ` … ${ids.at(-1)}` : ''}`,
      );
      const batch: Batch = { dir, size: tasks.length, succeeded: 0 };
      for (const [i, p] of pending.entries()) {
        this.#track(p, ids[i] as string, batch, tasks[i] as BatchTask);
      }
    } catch (error) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    this.#interval = this.#poll.initial;
    this.#schedulePoll(this.#nextPollIn());
  }

  /**
   * Writes the envelope of task i to `<dir>/<i>/`. A task whose input cannot be encoded fails
   * alone: the others are renumbered (directories renamed) so that array indices stay
   * contiguous. Returns the tasks to submit, in index order.
   */
  async #writeEnvelopes(dir: string, chunk: readonly Pending[]): Promise<Pending[]> {
    const failed = new Set<number>();
    await forEachLimit(chunk, WRITE_CONCURRENCY, async (p, i) => {
      try {
        await writeTaskEnvelope(
          join(dir, String(i)),
          taskEnvelopeInit(p.task, this.configFile, this.#grant(p.req)),
          p.task.input,
        );
      } catch (error) {
        failed.add(i);
        p.reject(
          PhysError.is(error) && error.code.startsWith('PHYS_STATE')
            ? error
            : new SchedulerError(
                `${this.#prefix}_WORKDIR`,
                `Cannot write the task envelope of node '${p.task.nodeId}' to ${dir}: ${error instanceof Error ? error.message : String(error)}. Check that workDir is writable.`,
                { cause: error, details: { nodeId: p.task.nodeId, workDir: dir } },
              ),
        );
      }
    });
    if (failed.size === 0) return [...chunk];
    const kept: Pending[] = [];
    for (let i = 0; i < chunk.length; i++) {
      if (failed.has(i)) {
        await rm(join(dir, String(i)), { recursive: true, force: true });
        continue;
      }
      if (kept.length !== i) await rename(join(dir, String(i)), join(dir, String(kept.length)));
      kept.push(chunk[i] as Pending);
    }
    return kept;
  }

  /** Creates `<runDir>/<n>-<stage>` with a number no other scheduler sharing the run has taken. */
  async #batchDir(runDir: string, name: string): Promise<string> {
    for (;;) {
      const dir = join(runDir, `${++this.#batchSeq}-${name}`);
      try {
        await mkdir(dir);
        return dir;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }

  #grant(req: ResourceRequirements): GrantedResources {
    return this.#backend.grant?.(req) ?? jobGrant(req);
  }

  #track(p: Pending, jobId: string, batch: Batch, t: BatchTask): void {
    const { task } = p;
    const handle: JobHandle = Object.freeze({ jobId, nodeId: task.nodeId, attempt: task.attempt });
    const { promise: outcome, resolve } = deferred<TaskOutcome>();
    const signal = task.signal;
    const onAbort = (): void => {
      this.#requestCancel(job, signal?.reason, true).catch((error: unknown) =>
        this.#logger.warn(`Cancelling ${this.#backend.name} job ${jobId} failed: ${String(error)}`),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const job: Job<TRecord> = {
      handle,
      task,
      req: p.req,
      batch,
      dir: t.dir,
      envelopeFile: t.envelopeFile,
      logFile: t.logFile,
      granted: this.#grant(p.req),
      status: ExecutionStatus.QUEUED,
      outcome,
      resolve,
      record: undefined,
      cancelRequested: false,
      cancelFromOutside: false,
      cancelReason: undefined,
      cancelling: undefined,
      stall: undefined,
      stalledSince: undefined,
      deadline: undefined,
      missingPolls: 0,
      missingSince: undefined,
      awaitingResultSince: undefined,
      lookedUp: false,
      unlisten: () => signal?.removeEventListener('abort', onAbort),
    };
    this.#jobs.add(handle, job);
    this.#active.add(job);
    p.resolve(handle);
    if (signal?.aborted === true) onAbort();
  }

  // ---- the Scheduler contract ---------------------------------------------------------------

  /** The status the last poll saw (no command is run). */
  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#jobs.status(handle);
  }

  /** Resolves with the task's outcome once its job ended and its result (or failure) was read. */
  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#jobs.outcome(handle);
  }

  /** Cancels the job; cancellations of one moment share one backend call. No-op once it ended. */
  async cancel(handle: JobHandle): Promise<void> {
    await this.#requestCancel(this.#jobs.get(handle), undefined, true);
  }

  /** Stops polling, and cancels the jobs still queued or running (unless `cancelOnClose` is false); they end CANCELLED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#flushScheduled?.();
    this.#flushScheduled = undefined;
    const closed = this.#closedError(
      `The ${this.#label} was closed before the task was submitted.`,
    );
    for (const group of this.#groups.values()) for (const p of group.tasks) p.reject(closed);
    this.#groups.clear();
    // A submission waiting to retry (a busy controller) stops waiting.
    for (const abort of this.#submitting) abort.abort(closed);
    await this.#flushing;
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    // A poll may still be cleaning up after the jobs it just settled.
    await this.#pollDone;
    for (const timer of this.#cancelTimers) clearTimeout(timer);
    this.#cancelTimers.clear();
    // Run directories whose tasks all succeeded are empty by now; failed tasks keep theirs.
    for (const dir of this.#runDirs) await rmdir(dir).catch(() => undefined);
    const active = [...this.#active];
    if (active.length === 0) return;
    if (this.#cancelOnClose) {
      await this.#backend
        .cancel(active.map((j) => j.handle.jobId))
        .catch((error: unknown) =>
          this.#logger.warn(`Cancelling the jobs on close failed: ${String(error)}`),
        );
    }
    for (const job of active) {
      this.#settleError(
        job,
        ExecutionStatus.CANCELLED,
        new CancelledError(
          `Node '${job.handle.nodeId}' was cancelled: the ${this.#label} was closed while ${this.#backend.name} job ${job.handle.jobId} was ${job.record?.nativeState ?? 'queued'}.`,
          { details: this.#details(job) },
        ),
      );
    }
  }

  // ---- cancellation -----------------------------------------------------------------------

  #requestCancel(job: Job<TRecord>, reason: unknown, fromOutside: boolean): Promise<void> {
    if (isTerminal(job.status)) return Promise.resolve();
    job.cancelReason ??= reason;
    if (fromOutside) job.cancelFromOutside = true;
    if (job.cancelling !== undefined) return job.cancelling;
    job.cancelRequested = true;
    let batch = this.#cancelBatch;
    if (batch === undefined) {
      // Cancellations of one moment (fail-fast cancels every running node) share one call.
      const jobs = new Set<Job<TRecord>>();
      const done = new Promise<void>((r) => setImmediate(r)).then(() => this.#cancelNow(jobs));
      batch = { jobs, done };
      this.#cancelBatch = batch;
    }
    batch.jobs.add(job);
    job.cancelling = batch.done;
    return batch.done;
  }

  async #cancelNow(jobs: ReadonlySet<Job<TRecord>>): Promise<void> {
    this.#cancelBatch = undefined;
    const live = [...jobs].filter((j) => !isTerminal(j.status));
    if (live.length === 0) return;
    try {
      await this.#backend.cancel(live.map((j) => j.handle.jobId));
    } catch (error) {
      // A cancel asked for from outside (the run is being cancelled) does not wait for the
      // batch system to agree: the job is reported cancelled, and the user told what may
      // still run. A timeout of our own is retried at the next poll (not at once: the batch
      // system just refused); until then a later ending is the job's own.
      const outside = live.filter((j) => j.cancelFromOutside);
      const retryAt = performance.now() + this.#poll.initial * 1000;
      for (const job of live) {
        if (job.cancelFromOutside) continue;
        job.cancelRequested = false;
        job.cancelReason = undefined;
        job.cancelling = undefined;
        if (job.deadline !== undefined) job.deadline = Math.max(job.deadline, retryAt);
      }
      if (outside.length === 0) throw error;
      const why = error instanceof Error ? error.message : String(error);
      this.#logger.warn(
        `Cancelling ${this.#backend.name} job(s) ${describeJobs(outside)} failed (${why}). They are reported cancelled, but may still be queued or running: cancel them with ${this.#backend.name}'s own command.`,
      );
      for (const job of outside) this.#settleCancelled(job, job.record);
      return;
    }
    // Accepted. The next poll normally sees the jobs end; those the batch system still lists
    // a few seconds later (a node that does not answer keeps them COMPLETING) are reported
    // cancelled without waiting for it.
    const timer = setTimeout(() => {
      this.#cancelTimers.delete(timer);
      for (const job of live) {
        if (isTerminal(job.status)) continue;
        this.#logger.debug(
          `${this.#backend.name} still lists job ${job.handle.jobId} as ${job.record?.nativeState ?? 'queued'} ${CANCEL_SETTLE_MS / 1000} s after it accepted the cancel; it is reported cancelled`,
        );
        this.#settleCancelled(job, job.record);
      }
    }, CANCEL_SETTLE_MS);
    // The poll timer keeps the process alive while the jobs are active; this one need not.
    timer.unref();
    this.#cancelTimers.add(timer);
    this.#interval = this.#poll.initial;
    this.#schedulePoll(Math.min(this.#interval, 0.5));
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
    for (const job of this.#active) {
      if (job.cancelRequested) continue;
      if (job.deadline !== undefined)
        seconds = Math.min(seconds, Math.max(0.01, (job.deadline - now) / 1000));
      if (job.stalledSince !== undefined) {
        const due = job.stalledSince + this.#stuckAfter * 1000;
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
        this.#logger.warn(`${this.#backend.name} status check failed: ${String(error)}`);
        return false;
      })
      .then((changed) => {
        this.#polling = false;
        if (this.#active.size === 0 || this.#closed) return;
        const { initial, multiplier, max } = this.#poll;
        this.#interval = changed
          ? initial
          : Math.min(max, Math.max(initial, this.#interval * multiplier));
        this.#schedulePoll(this.#nextPollIn());
      });
  };

  /** One status check of every active job; true when any of them changed. */
  async #pollOnce(): Promise<boolean> {
    if (this.#active.size === 0) return false;
    this.#stats.polls++;
    this.#enforceTimeouts();
    // Jobs submitted while the query runs are not in its answer: judge only the ones asked about.
    const asked = [...this.#active];
    let records: ReadonlyMap<string, TRecord>;
    try {
      records = await this.#backend.query(asked.map((j) => j.handle.jobId));
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
      const state = this.#backend.mapState(record);
      if (state.terminal) {
        ended.push({ job, record: job.record });
      } else if (state.failure !== undefined) {
        changed = true;
        await this.#stuck(job, state.failure);
      } else if (
        state.status === ExecutionStatus.RUNNING &&
        job.status === ExecutionStatus.QUEUED
      ) {
        // Statuses only move forward: a job the batch system requeues stays RUNNING.
        this.#ran(job);
        if (job.task.timeoutSeconds !== undefined)
          job.deadline = now + job.task.timeoutSeconds * 1000;
      }
    }
    if (ended.length > 0 && (await this.#collect(ended))) changed = true;
    if (await this.#checkStalls(asked)) changed = true;
    return changed;
  }

  /**
   * Asks the backend which live jobs are stalled by their nodes (see
   * {@link BatchQueueBackend.stalls}); warns about new stalls, says when one is over, settles a
   * stalled job that wrote its result, and fails one stalled for `stuckAfterSeconds` with
   * NODE_FAIL. True when anything changed.
   */
  async #checkStalls(asked: readonly Job<TRecord>[]): Promise<boolean> {
    if (this.#backend.stalls === undefined) return false;
    const jobs = asked.filter(
      (j) => !isTerminal(j.status) && !j.cancelRequested && j.record !== undefined,
    );
    if (jobs.length === 0) return false;
    let found: ReadonlyMap<string, string>;
    try {
      found = await this.#backend.stalls(
        new Map(jobs.map((j) => [j.handle.jobId, j.record as TRecord])),
      );
      this.#stallCheckFailed = false;
    } catch (error) {
      // Once per outage: the status check itself still works, so the run goes on.
      if (!this.#stallCheckFailed) {
        this.#logger.warn(
          `${this.#backend.name}: checking the nodes of running jobs failed (${error instanceof Error ? error.message : String(error)}); jobs on a failed node may go unnoticed until it works again`,
        );
      }
      this.#stallCheckFailed = true;
      return false;
    }
    const now = performance.now();
    const started = new Map<string, Job<TRecord>[]>();
    const over = new Map<string, Job<TRecord>[]>();
    const stalled: Job<TRecord>[] = [];
    for (const job of jobs) {
      if (isTerminal(job.status) || job.cancelRequested) continue;
      const problem = found.get(job.handle.jobId);
      if (problem === undefined) {
        if (job.stall !== undefined) push(over, job.stall, job);
        job.stall = undefined;
        job.stalledSince = undefined;
        continue;
      }
      if (job.stalledSince === undefined) {
        job.stalledSince = now;
        push(started, problem, job);
      }
      job.stall = problem;
      stalled.push(job);
    }
    const name = this.#backend.name;
    for (const [problem, group] of started) {
      const many = group.length > 1;
      this.#logger.warn(
        `${name}: ${problem}; ${many ? `${group.length} jobs wait` : 'a job waits'} on it: ${describeJobs(group)}. Unless that changes within ${this.#stuckAfter} s (stuckAfterSeconds), ${many ? 'they fail' : 'it fails'} with PHYS_JOB_NODE_FAIL, which the retry policy may retry.`,
      );
    }
    for (const [problem, group] of over) {
      this.#logger.info(
        `${name}: ${describeJobs(group)} ${group.length > 1 ? 'are' : 'is'} no longer stalled (${problem}).`,
      );
    }
    if (stalled.length === 0) return started.size > 0 || over.size > 0;
    // A stalled job that wrote its result is done, whatever its node says now: a node that
    // stopped answering keeps a finished job COMPLETING.
    const results = await Promise.all(stalled.map((job) => readResult(job)));
    const overdue: Job<TRecord>[] = [];
    for (const [k, job] of stalled.entries()) {
      if (isTerminal(job.status)) continue;
      const result = results[k];
      if (result !== undefined) {
        this.#ran(job);
        if (result.envelope.status === 'COMPLETED') await this.#settleCompleted(job, result);
        else this.#settle(job, resultOutcome(result, job.granted));
      } else if ((now - (job.stalledSince as number)) / 1000 >= this.#stuckAfter) {
        overdue.push(job);
      }
    }
    if (overdue.length > 0) await this.#failStalled(overdue, now);
    return true;
  }

  /** Cancels jobs stalled for `stuckAfterSeconds` (one call) and fails them with NODE_FAIL. */
  async #failStalled(jobs: readonly Job<TRecord>[], now: number): Promise<void> {
    const name = this.#backend.name;
    await this.#backend
      .cancel(jobs.map((j) => j.handle.jobId))
      .catch((error: unknown) =>
        this.#logger.warn(
          `Cancelling the stalled ${name} job(s) ${describeJobs(jobs)} failed (${error instanceof Error ? error.message : String(error)}); they may still be queued or running.`,
        ),
      );
    for (const job of jobs) {
      if (isTerminal(job.status)) continue;
      const seconds = Math.round((now - (job.stalledSince as number)) / 1000);
      await this.#settleFailureWithTail(
        job,
        'NODE_FAIL',
        job.record,
        `${name}: ${job.stall} (for ${seconds} s; stuckAfterSeconds is ${this.#stuckAfter}). The job was cancelled.`,
      );
    }
  }

  /**
   * `timeoutSeconds` counts from when a poll first saw the job running; batch systems count
   * their own limits coarsely (Slurm in minutes), so the scheduler cancels it itself.
   */
  #enforceTimeouts(): void {
    const now = performance.now();
    for (const job of this.#active) {
      if (job.deadline === undefined || job.cancelRequested || now < job.deadline) continue;
      const { jobId, nodeId, attempt } = job.handle;
      const seconds = job.task.timeoutSeconds;
      const reason = new TimeoutError(
        `Node '${nodeId}' exceeded its timeout of ${seconds} s (attempt ${attempt}, ${this.#backend.name} job ${jobId}).`,
        {
          details: {
            nodeId,
            attempt,
            timeoutSeconds: seconds,
            scheduler: this.#backend.name,
            jobId,
          },
        },
      );
      this.#requestCancel(job, reason, false).catch((error: unknown) =>
        this.#logger.warn(
          `Cancelling ${this.#backend.name} job ${jobId} at its timeout failed: ${String(error)}`,
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
      this.#logger.warn(`${this.#backend.name} status check failed (${why}); checking again later`);
      return;
    }
    for (const job of [...this.#active]) {
      this.#settleError(
        job,
        ExecutionStatus.FAILED,
        new SchedulerError(
          PhysError.is(error) ? error.code : 'PHYS_SCHEDULER',
          `Lost track of ${this.#backend.name} job ${job.handle.jobId} (node '${job.handle.nodeId}'): ${why}${hopeless ? '' : ` (for ${Math.round(failingFor)} s)`}. The job may still run; its work directory is ${job.dir}.`,
          { cause: error, retryable: true, details: this.#details(job) },
        ),
      );
    }
  }

  /** A job in a state it never leaves by waiting: cancel it and fail it now. */
  async #stuck(job: Job<TRecord>, failure: JobFailureReason): Promise<void> {
    await this.#backend
      .cancel([job.handle.jobId])
      .catch((error: unknown) =>
        this.#logger.warn(
          `Cancelling ${this.#backend.name} job ${job.handle.jobId} failed: ${String(error)}`,
        ),
      );
    const record = job.record;
    this.#settleFailure(
      job,
      failure,
      record,
      `${this.#backend.name} keeps it ${record?.nativeState}${reasonOf(record) === undefined ? '' : ` (${reasonOf(record)})`}; it asked for ${describeRequest(job.req)}. The job was cancelled.`,
    );
  }

  /**
   * Settles jobs the query reports ended (or no longer lists). Their result file decides
   * success; the batch system's state explains endings that left none. True when any settled.
   */
  async #collect(
    ended: readonly { job: Job<TRecord>; record: TRecord | undefined }[],
  ): Promise<boolean> {
    const results = await Promise.all(ended.map(({ job }) => readResult(job)));
    const lookup: { job: Job<TRecord>; record: TRecord | undefined }[] = [];
    let settled = false;
    for (const [k, entry] of ended.entries()) {
      const ending = await this.#end(entry.job, results[k], entry.record, true);
      if (ending === 'settled') settled = true;
      else if (ending === 'lookup' && lookup.length < MAX_LOOKUP) lookup.push(entry);
    }
    if (lookup.length === 0 || this.#backend.lookup === undefined) return settled;
    let details: ReadonlyMap<string, TRecord>;
    try {
      details = await this.#backend.lookup(lookup.map(({ job }) => job.handle.jobId));
    } catch (error) {
      this.#logger.debug(`${this.#backend.name} lookup failed: ${String(error)}`);
      details = new Map();
    }
    for (const { job, record } of lookup) {
      job.lookedUp = true;
      const found = details.get(job.handle.jobId);
      if (found !== undefined && !this.#backend.mapState(found).terminal) continue;
      if (found !== undefined) job.record = merged(job.record, found);
      const ending = await this.#end(
        job,
        undefined,
        found === undefined ? record : job.record,
        false,
      );
      if (ending === 'settled') settled = true;
    }
    return settled;
  }

  /** Settles an ended (or vanished) job once its outcome is known (see {@link jobEnding}). */
  async #end(
    job: Job<TRecord>,
    result: ReadResult | undefined,
    current: TRecord | undefined,
    canLookUp: boolean,
  ): Promise<Ending> {
    // A job no longer listed, last seen ending: that ending stands.
    const last = job.record;
    const record =
      current ?? (last !== undefined && this.#backend.mapState(last).terminal ? last : undefined);
    const ending = jobEnding({
      result: result?.envelope.status,
      cancelRequested: job.cancelRequested,
      record,
      state: record === undefined ? undefined : this.#backend.mapState(record),
      mayLookUp:
        canLookUp && this.#backend.lookup !== undefined && (record === undefined || !job.lookedUp),
    });
    const where = `Node '${job.handle.nodeId}' (${this.#backend.name} job ${job.handle.jobId})`;
    const native = `${record?.nativeState}${reasonOf(record) === undefined ? '' : `, ${reasonOf(record)}`}`;
    switch (ending.kind) {
      case 'lookup':
        return 'lookup';
      case 'missing':
        return this.#missing(job) ? 'settled' : 'pending';
      case 'completed':
        await this.#settleCompleted(job, result as ReadResult);
        return 'settled';
      case 'result':
        // The task itself failed, was cancelled or timed out, and said so in its result.
        this.#ran(job);
        this.#settle(job, resultOutcome(result as ReadResult, job.granted));
        return 'settled';
      case 'cancelled':
        this.#settleCancelled(job, record);
        return 'settled';
      case 'timeout': {
        const wall = job.req.wallTimeSeconds;
        const tail = await logTail(job.logFile);
        const message = `${where} hit its time limit${wall === undefined ? '' : ` (wall time ${wall} s)`} and was stopped by ${this.#backend.name} (${native}). Ask for more wallTime.`;
        this.#settleError(
          job,
          ExecutionStatus.TIMEOUT,
          new TimeoutError(`${message}\n${tailText(job.dir, job.logFile, tail)}`, {
            details: { ...this.#details(job), logTail: tail },
          }),
        );
        return 'settled';
      }
      case 'cancelled-outside': {
        const tail = await logTail(job.logFile);
        const message = `${where} was cancelled outside this run (${native}): by a user or an administrator, or for a dependency that can never be met.`;
        this.#settleError(
          job,
          ExecutionStatus.CANCELLED,
          new CancelledError(`${message}\n${tailText(job.dir, job.logFile, tail)}`, {
            details: { ...this.#details(job), logTail: tail },
          }),
        );
        return 'settled';
      }
      case 'failure':
        await this.#settleFailureWithTail(job, ending.reason, record, exitHint(record));
        return 'settled';
      case 'await-result': {
        // The job says it wrote a result; a shared filesystem may show it late.
        const now = performance.now();
        job.awaitingResultSince ??= now;
        if ((now - job.awaitingResultSince) / 1000 < this.#resultTimeout) return 'pending';
        const words = `No result appeared in ${job.dir} within ${this.#resultTimeout} s.`;
        await this.#settleFailureWithTail(job, 'NO_RESULT', record, words);
        return 'settled';
      }
    }
  }

  /** A job missing from the batch system without a result: lost after a few polls. True when settled. */
  #missing(job: Job<TRecord>): boolean {
    const now = performance.now();
    job.missingSince ??= now;
    if (++job.missingPolls < LOST_AFTER_POLLS || (now - job.missingSince) / 1000 < this.#lostAfter)
      return false;
    this.#settleFailure(
      job,
      'LOST',
      undefined,
      `It was last seen ${job.record?.nativeState ?? 'after submission'}; it left nothing in ${job.dir}.`,
    );
    return true;
  }

  // ---- outcomes -----------------------------------------------------------------------------

  /**
   * The job runs, or ran: a poll saw it running, or it wrote a result before any poll did. Its
   * task hears of it once (`SchedulerTask.onRunning`).
   */
  #ran(job: Job<TRecord>): void {
    if (job.status !== ExecutionStatus.QUEUED) return;
    job.status = ExecutionStatus.RUNNING;
    try {
      job.task.onRunning?.();
    } catch (error) {
      this.#logger.warn(`onRunning of node '${job.handle.nodeId}' failed: ${String(error)}`);
    }
  }

  async #settleCompleted(job: Job<TRecord>, result: ReadResult): Promise<void> {
    this.#ran(job);
    // The result is in memory: clean up first, so that whoever waits finds the directory gone.
    if (!this.#keepWorkDirs) {
      const batch = job.batch;
      batch.succeeded++;
      await rm(batch.succeeded === batch.size ? batch.dir : job.dir, {
        recursive: true,
        force: true,
      }).catch(() => undefined);
    }
    this.#settle(job, resultOutcome(result, job.granted));
  }

  /** Cancelled by us: report why (a node timeout, fail-fast, the user), not just "cancelled". */
  #settleCancelled(job: Job<TRecord>, record: TRecord | undefined): void {
    const reason: unknown = job.cancelReason;
    const { jobId, nodeId } = job.handle;
    const error = PhysError.is(reason)
      ? reason
      : new CancelledError(`Node '${nodeId}' was cancelled (${this.#backend.name} job ${jobId}).`, {
          ...(reason === undefined ? {} : { cause: reason }),
          details: {
            ...this.#details(job),
            ...(record === undefined ? {} : { nativeState: record.nativeState }),
          },
        });
    this.#settleError(
      job,
      error.code === 'PHYS_TIMEOUT' ? ExecutionStatus.TIMEOUT : ExecutionStatus.CANCELLED,
      error,
    );
  }

  async #settleFailureWithTail(
    job: Job<TRecord>,
    reason: JobFailureReason,
    record: TRecord | undefined,
    words: string,
  ): Promise<void> {
    const tail = await logTail(job.logFile);
    const said = reasonOf(record);
    const note = [
      said === undefined ? '' : `${this.#backend.name} says: ${said}.`,
      words,
      tailText(job.dir, job.logFile, tail),
    ];
    this.#settleFailure(job, reason, record, note.filter((s) => s !== '').join('\n'));
  }

  #settleFailure(
    job: Job<TRecord>,
    reason: JobFailureReason,
    record: TRecord | undefined,
    note: string,
  ): void {
    const exitCode = record?.exitCode;
    this.#settleError(
      job,
      ExecutionStatus.FAILED,
      new JobFailureError(reason, {
        scheduler: this.#backend.name,
        nativeState: record?.nativeState ?? job.record?.nativeState ?? 'unknown',
        nodeId: job.handle.nodeId,
        jobId: job.handle.jobId,
        ...(exitCode === undefined ? {} : { exitCode }),
        ...(note === '' ? {} : { note }),
      }),
    );
  }

  #details(job: Job<TRecord>): Record<string, unknown> {
    const record = job.record;
    return {
      scheduler: this.#backend.name,
      jobId: job.handle.jobId,
      nodeId: job.handle.nodeId,
      ...(record === undefined ? {} : { nativeState: record.nativeState }),
      ...(record?.reason === undefined ? {} : { reason: record.reason }),
      ...(record?.exitCode === undefined ? {} : { exitCode: record.exitCode }),
      ...(record?.signal === undefined ? {} : { signal: record.signal }),
      workDir: job.dir,
      logFile: job.logFile,
    };
  }

  #settleError(job: Job<TRecord>, status: ExecutionStatus, error: PhysError): void {
    this.#settle(job, { status, error: serializeError(error), granted: job.granted });
  }

  #settle(job: Job<TRecord>, outcome: TaskOutcome): void {
    if (!this.#jobs.settle(job, outcome)) return;
    this.#active.delete(job);
    job.unlisten();
  }

  #closedError(message: string): SchedulerError {
    return new SchedulerError(`${this.#prefix}_CLOSED`, message);
  }
}

/** `'a' (job 12), 'b' (job 13) and 4 more`: the DAG nodes of jobs. */
function describeJobs(jobs: readonly { readonly handle: JobHandle }[]): string {
  const named = jobs
    .slice(0, NAMED_IN_WARNING)
    .map((j) => `'${j.handle.nodeId}' (job ${j.handle.jobId})`);
  const more = jobs.length - named.length;
  return more > 0 ? `${named.join(', ')} and ${more} more` : named.join(', ');
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/**
 * Aborts `abort` once every task of a submission was cancelled (none left to submit for).
 * Returns what removes the listeners.
 */
function abortWhenAllAborted(
  pending: readonly { readonly task: SchedulerTask }[],
  abort: AbortController,
): () => void {
  const signals = pending.map((p) => p.task.signal);
  if (signals.length === 0 || signals.some((s) => s === undefined)) return () => undefined;
  const check = (): void => {
    if (signals.every((s) => s?.aborted === true))
      abort.abort(abortReason((pending[0] as { readonly task: SchedulerTask }).task));
  };
  for (const s of signals) s?.addEventListener('abort', check, { once: true });
  check();
  return () => {
    for (const s of signals) s?.removeEventListener('abort', check);
  };
}

function abortReason(task: SchedulerTask): PhysError {
  const reason: unknown = task.signal?.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${task.nodeId}' was cancelled before it was submitted.`, {
        ...(reason === undefined ? {} : { cause: reason }),
      });
}

/** A submission's failure as the error of one of its tasks: a job failure names the task's node. */
function forTask(error: unknown, task: SchedulerTask): unknown {
  if (!(error instanceof JobFailureError) || error.failure.nodeId !== undefined) return error;
  return new JobFailureError(
    error.reason,
    { ...error.failure, nodeId: task.nodeId },
    error.cause === undefined ? {} : { cause: error.cause },
  );
}

function merged<TRecord extends BatchJobRecord>(
  previous: TRecord | undefined,
  next: TRecord,
): TRecord {
  if (previous === undefined || (next.exitCode !== undefined && next.signal !== undefined))
    return next;
  return {
    ...next,
    exitCode: next.exitCode ?? previous.exitCode,
    signal: next.signal ?? previous.signal,
  };
}

async function readResult(job: Job<unknown>): Promise<ReadResult | undefined> {
  try {
    return await readResultEnvelope(job.envelopeFile);
  } catch {
    return undefined;
  }
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

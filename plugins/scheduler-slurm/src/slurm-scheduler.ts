import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, ExecutionStatus, type GrantedResources, isTerminal, type JobHandle, type Logger, normalizeResources, PhysError, parsePluginOptions, type ResourceRequirements, type Scheduler, type SchedulerCapabilities, SchedulerError, type SchedulerTask, type SerializedPhysError, type StageRef, serializeError, silentLogger, type TaskOutcome, TimeoutError } from '@phys/core';
import { deferred, JobTable, jobGrant, logTail, type ReadResult, readResultEnvelope, resultOutcome, safeFileName, type TrackedJob, taskEnvelopeInit, writeTaskEnvelope } from '@phys/scheduler-kit';
import { type CommandResult, describeFailure, SlurmCommands } from './command.js';
import {
  arrayDirective,
  jobName,
  literalSlurmPath,
  resourceDirectives,
  slurmCpus,
} from './directives.js';
import { resolveExecCommand } from './exec-command.js';
import { renderJobScript, shellQuote } from './job-script.js';
import { type ResolvedSlurmOptions, type SlurmOptions, slurmOptionsSchema } from './options.js';
import {
  isInvalidJobIdError,
  isTransientSlurmError,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJobs,
  parseSqueue,
  SACCT_FORMAT,
  type SlurmJobRecord,
  SQUEUE_FORMAT,
} from './parse.js';
import { mapSlurmState, SLURM_ERROR_CODES, UNSATISFIABLE_PENDING_REASONS } from './states.js';

/** Options of {@link SlurmScheduler}: the plugin options, with the config file jobs load. @public */
export interface SlurmSchedulerOptions extends Omit<SlurmOptions, 'configFile'> {
  /** The phys.config.* declaring the stages; jobs rebuild stages from it (absolute path). */
  readonly configFile: string;
  /** Where warnings (transient sbatch failures, squeue outages) and debug lines go (default: silent). */
  readonly logger?: Logger;
}

/** Slurm commands run and polls made so far (for diagnostics, measurements and tests). @public */
export interface SlurmSchedulerStats {
  /** sbatch calls, retries included. */
  readonly sbatch: number;
  /** squeue calls: one per poll. */
  readonly squeue: number;
  /** scontrol calls, made only for jobs that ended without a result while accounting is off. */
  readonly scontrol: number;
  /** scancel calls; one call cancels many jobs. */
  readonly scancel: number;
  /** sacct calls: the first probes whether Slurm keeps accounting. */
  readonly sacct: number;
  /** Status checks of the poll loop (each makes exactly one squeue call). */
  readonly polls: number;
  /** Tasks handed to Slurm. */
  readonly tasks: number;
  /** Of the sbatch submissions, how many were job arrays. */
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
  readonly directives: readonly string[];
  readonly tasks: Pending[];
}

interface Batch {
  readonly dir: string;
  readonly size: number;
  jobId: string;
  succeeded: number;
}

interface Job extends TrackedJob {
  readonly handle: JobHandle;
  readonly batch: Batch;
  readonly taskDir: string;
  readonly envelopeFile: string;
  readonly logFile: string;
  readonly granted: GrantedResources;
  readonly directives: readonly string[];
  slurmState: string | undefined;
  reason: string | undefined;
  cancelRequested: boolean;
  cancelReason: unknown;
  /** When the job ended without its result file showing up yet (ms, performance clock). */
  awaitingResultSince: number | undefined;
  /** Polls in a row the job was unknown to squeue and to the detail lookup. */
  missingPolls: number;
  /** `SchedulerTask.timeoutSeconds`: counted from when a poll first sees the job running. */
  readonly timeoutSeconds: number | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly unlisten: () => void;
}

const WRITE_CONCURRENCY = 16;
/** Polls a job may be unknown to Slurm (and leave no result) before it is declared lost. */
const LOST_AFTER_POLLS = 3;
/** Longest `-j` id list handed to one command. */
const MAX_ID_LIST_CHARS = 100_000;
/** Finished jobs whose details one poll looks up at most (their ids must fit one argument). */
const MAX_LOOKUP = 5000;
/** With more distinct jobs to look up than this, one `scontrol show job` lists them all. */
const SCONTROL_ONE_BY_ONE = 4;
/** Exit codes of `phys exec` that come with a result file (see TASK_EXIT_CODES in core). */
const EXIT_CODES_WITH_RESULT: ReadonlySet<number> = new Set([0, 1, 3, 4]);

/**
 * Runs phys tasks as Slurm jobs. Each task travels as a task envelope in a work directory on a
 * shared filesystem; its job runs `phys exec <envelope>`, which rebuilds the stage from the
 * config and writes a result envelope beside it. Ready tasks of one stage that arrive within
 * `batchWindow` go out as one job array; one `squeue` call per poll interval watches every job;
 * finished jobs are read from their result files, and from `sacct` (when Slurm keeps accounting)
 * or `scontrol show job` when a job ended without one.
 * @public
 */
export class SlurmScheduler implements Scheduler {
  /** `slurm`. */
  readonly name = 'slurm';
  /** Job arrays, GPUs and cancellation; dependencies stay with the executor, which submits only ready nodes. */
  readonly capabilities: SchedulerCapabilities = Object.freeze({
    arrays: true,
    dependencies: false,
    gpus: true,
    cancel: true,
  });
  /** The config file every job loads. */
  readonly configFile: string;
  /** Where task envelopes, job scripts and job logs are written. */
  readonly workDir: string;
  /** The validated options, with defaults applied. */
  readonly options: Readonly<ResolvedSlurmOptions>;

  readonly #logger: Logger;
  readonly #commands: SlurmCommands;
  #execCommand: readonly string[] | undefined;
  readonly #groups = new Map<string, Group>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  readonly #jobs = new JobTable<Job>({ scheduler: 'SlurmScheduler' });
  readonly #active = new Set<Job>();
  #pollTimer: NodeJS.Timeout | undefined;
  #pollAt = 0;
  #polling = false;
  /** The status check under way (resolved when none is). */
  #pollDone: Promise<unknown> = Promise.resolve();
  #interval: number;
  #squeueFailingSince: number | undefined;
  #accounting: boolean | undefined;
  readonly #cancelQueue = new Set<Job>();
  #cancelScheduled = false;
  #closed = false;
  #polls = 0;
  #tasks = 0;
  #arrays = 0;
  #batchSeq = 0;
  readonly #runDirs = new Set<string>();
  readonly #warned = new Set<string>();

  constructor(options: SlurmSchedulerOptions) {
    const { configFile, logger, ...rest } = options;
    if (typeof configFile !== 'string' || !isAbsolute(configFile)) {
      throw new SchedulerError(
        'PHYS_SCHEDULER',
        `SlurmScheduler needs the absolute path of the phys.config.* that declares the stages (configFile), got ${JSON.stringify(configFile)}. Jobs load it to rebuild stages.`,
      );
    }
    this.options = Object.freeze(parsePluginOptions('scheduler-slurm', slurmOptionsSchema, rest));
    this.configFile = configFile;
    const configDir = dirname(configFile);
    this.workDir = resolve(configDir, this.options.workDir ?? join('.phys', 'slurm'));
    if (this.workDir.includes('\\')) {
      throw new SchedulerError(
        'PHYS_SCHEDULER',
        `The Slurm work directory ${this.workDir} contains a backslash, which turns off Slurm's file-name patterns; choose another workDir.`,
      );
    }
    this.#logger = logger ?? silentLogger;
    this.#commands = new SlurmCommands(this.options.slurmBin, this.options.commandTimeout);
    this.#interval = this.options.pollInterval;
  }

  /** Slurm commands run and polls made so far. */
  get stats(): SlurmSchedulerStats {
    const c = this.#commands.calls;
    return {
      ...c,
      polls: this.#polls,
      tasks: this.#tasks,
      arrays: this.#arrays,
    };
  }

  // ---- submission -------------------------------------------------------------------------

  /**
   * Queues a task for the next submission (within `batchWindow`) and resolves with its handle
   * once sbatch accepted it: the job id, `<array job>_<index>` for a task of an array.
   */
  submit(task: SchedulerTask): Promise<JobHandle> {
    if (this.#closed) {
      return Promise.reject(
        new SchedulerError('PHYS_SCHEDULER', 'The SlurmScheduler is closed; create a new one.'),
      );
    }
    let req: ResourceRequirements;
    try {
      req = normalizeResources(task.resources);
    } catch (error) {
      return Promise.reject(error);
    }
    const directives = resourceDirectives(req, this.options, task.timeoutSeconds);
    const key = `${task.runId}\n${task.stage.name}@${task.stage.version}\n${directives.join(' ')}`;
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { runId: task.runId, stage: task.stage, directives, tasks: [] };
      this.#groups.set(key, group);
    }
    const target = group;
    const promise = new Promise<JobHandle>((resolve, reject) => {
      target.tasks.push({ task, req, resolve, reject });
    });
    this.#flushTimer ??= setTimeout(this.#flush, this.options.batchWindow * 1000);
    return promise;
  }

  readonly #flush = (): void => {
    this.#flushTimer = undefined;
    const groups = [...this.#groups.values()];
    this.#groups.clear();
    // One sbatch at a time: a burst of submissions is what makes a controller slow for everyone.
    this.#flushing = this.#flushing.then(async () => {
      for (const group of groups) {
        const live: Pending[] = [];
        for (const p of group.tasks) {
          if (p.task.signal?.aborted === true) p.reject(abortReason(p.task));
          else live.push(p);
        }
        const size = this.options.maxArraySize;
        for (let at = 0; at < live.length; at += size) {
          const chunk = live.slice(at, at + size);
          try {
            await this.#submitBatch(group, chunk);
          } catch (error) {
            for (const p of chunk) p.reject(error);
          }
        }
      }
    });
  };

  async #submitBatch(group: Group, chunk: readonly Pending[]): Promise<void> {
    const execCommand = this.#resolveExec();
    const runDir = join(this.workDir, safeFileName(group.runId));
    await mkdir(runDir, { recursive: true });
    this.#runDirs.add(runDir);
    const batchDir = await this.#batchDir(runDir, safeFileName(group.stage.name));
    try {
      const tasks = await this.#writeEnvelopes(batchDir, chunk);
      if (tasks.length === 0) {
        await rm(batchDir, { recursive: true, force: true });
        return;
      }
      const granted = tasks.map((p) => grantOf(p.req));
      const batch: Batch = { dir: batchDir, size: tasks.length, jobId: '', succeeded: 0 };
      await writeFile(
        join(batchDir, 'nodes.tsv'),
        `index\tnode\tattempt\n${tasks.map((p, i) => `${i}\t${p.task.nodeId}\t${p.task.attempt}`).join('\n')}\n`,
      );
      const isArray = tasks.length > 1;
      const args = [
        '--parsable',
        `--job-name=${jobName(this.options.jobNamePrefix, group.stage.name)}`,
        `--chdir=${dirname(this.configFile)}`,
        `--output=${literalSlurmPath(batchDir)}/${isArray ? '%a' : '0'}/slurm.out`,
        ...(isArray ? [arrayDirective(tasks.length, this.options.arrayParallelism)] : []),
        ...group.directives,
        ...this.options.extraSbatchArgs,
      ];
      const script = join(batchDir, 'job.sh');
      await writeFile(
        script,
        renderJobScript({
          batchDir,
          setup: this.options.setup,
          execCommand,
          comments: [
            `Written by @phys/scheduler-slurm: ${tasks.length} task(s) of stage ${group.stage.name}@${group.stage.version}, run ${group.runId}.`,
            `Submitted as: sbatch ${[...args, script].map(shellQuote).join(' ')}`,
            'Task i runs the envelope <this dir>/i/task.json; nodes.tsv maps indices to nodes.',
          ],
        }),
        { mode: 0o755 },
      );
      const jobId = await this.#sbatch([...args, script], group, tasks.length);
      batch.jobId = jobId;
      this.#tasks += tasks.length;
      if (isArray) this.#arrays++;
      this.#logger.debug(
        `submitted ${tasks.length} task(s) of ${group.stage.name} as Slurm job ${jobId}`,
        { jobId, tasks: tasks.length },
      );
      tasks.forEach((p, i) => {
        const id = isArray ? `${jobId}_${i}` : jobId;
        const taskDir = join(batchDir, String(i));
        this.#track(p, id, batch, taskDir, granted[i] as GrantedResources, group.directives);
      });
    } catch (error) {
      await rm(batchDir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    this.#interval = this.options.pollInterval;
    this.#schedulePoll(this.#interval);
  }

  /**
   * Writes the envelope of task i to `<batchDir>/<i>/`. A task whose input cannot be encoded
   * fails alone: the others are renumbered (directories renamed) so that array indices stay
   * contiguous. Returns the tasks to submit, in index order.
   */
  async #writeEnvelopes(batchDir: string, chunk: readonly Pending[]): Promise<Pending[]> {
    const failed = new Set<number>();
    await forEachLimit(chunk, WRITE_CONCURRENCY, async (p, i) => {
      const { task } = p;
      try {
        await writeTaskEnvelope(
          join(batchDir, String(i)),
          taskEnvelopeInit(task, this.configFile, grantOf(p.req)),
          task.input,
        );
      } catch (error) {
        failed.add(i);
        p.reject(
          PhysError.is(error) && error.code.startsWith('PHYS_STATE')
            ? error
            : new SchedulerError(
                'PHYS_SCHEDULER',
                `Cannot write the task envelope of node '${task.nodeId}' to ${batchDir}: ${error instanceof Error ? error.message : String(error)}. Check that workDir is writable.`,
                { cause: error, details: { nodeId: task.nodeId, workDir: batchDir } },
              ),
        );
      }
    });
    if (failed.size === 0) return [...chunk];
    const kept: Pending[] = [];
    for (let i = 0; i < chunk.length; i++) {
      if (failed.has(i)) {
        await rm(join(batchDir, String(i)), { recursive: true, force: true });
        continue;
      }
      if (kept.length !== i) {
        await rename(join(batchDir, String(i)), join(batchDir, String(kept.length)));
      }
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

  /** Runs sbatch, retrying failures that say the controller was unreachable or busy. */
  async #sbatch(args: readonly string[], group: Group, n: number): Promise<string> {
    const { submitRetries, submitRetryDelay } = this.options;
    let delay = submitRetryDelay;
    for (let attempt = 0; ; attempt++) {
      const result = await this.#commands.run('sbatch', args, dirname(this.configFile));
      const jobId = result.code === 0 ? parseSbatchParsable(result.stdout) : undefined;
      if (jobId !== undefined) return jobId;
      const transient =
        result.error === 'timeout' ||
        (result.error === undefined && isTransientSlurmError(result.stderr));
      if (!transient || attempt >= submitRetries) {
        const what =
          result.code === 0
            ? `sbatch printed no job id (stdout: ${JSON.stringify(result.stdout.trim())})`
            : describeFailure('sbatch', result);
        throw new SchedulerError(
          result.error === 'not-found'
            ? SLURM_ERROR_CODES.UNAVAILABLE
            : SLURM_ERROR_CODES.SUBMIT_FAILED,
          `Cannot submit ${n} task(s) of stage '${group.stage.name}' to Slurm: ${what}${transient ? ` (gave up after ${attempt + 1} attempts)` : ''}. ${transient ? 'The controller was unreachable or busy; try again later.' : 'Fix the request (partition, account, qos, resources, extraSbatchArgs) and run again.'}`,
          {
            retryable: transient,
            details: {
              command: [this.#commands.path('sbatch'), ...args],
              exitCode: result.code,
              stderr: result.stderr.trim(),
              attempts: attempt + 1,
            },
          },
        );
      }
      this.#logger.warn(
        `sbatch failed transiently (${describeFailure('sbatch', result)}); retrying in ${delay} s`,
      );
      await sleep(delay * 1000);
      delay = Math.min(60, Math.max(delay * 2, 0.05));
    }
  }

  #resolveExec(): readonly string[] {
    this.#execCommand ??= this.options.execCommand ?? resolveExecCommand(this.configFile);
    return this.#execCommand;
  }

  #track(
    p: Pending,
    jobId: string,
    batch: Batch,
    taskDir: string,
    granted: GrantedResources,
    directives: readonly string[],
  ): void {
    const { task } = p;
    const handle: JobHandle = Object.freeze({
      jobId,
      nodeId: task.nodeId,
      attempt: task.attempt,
    });
    const { promise: outcome, resolve } = deferred<TaskOutcome>();
    const signal = task.signal;
    const onAbort = (): void => {
      void this.#requestCancel(job, signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const job: Job = {
      handle,
      batch,
      taskDir,
      envelopeFile: join(taskDir, 'task.json'),
      logFile: join(taskDir, 'slurm.out'),
      granted,
      directives,
      status: ExecutionStatus.QUEUED,
      slurmState: undefined,
      reason: undefined,
      outcome,
      resolve,
      cancelRequested: false,
      cancelReason: undefined,
      awaitingResultSince: undefined,
      missingPolls: 0,
      timeoutSeconds: task.timeoutSeconds,
      timer: undefined,
      unlisten: () => signal?.removeEventListener('abort', onAbort),
    };
    this.#jobs.add(handle, job);
    this.#active.add(job);
    p.resolve(handle);
    if (signal?.aborted === true) onAbort();
  }

  // ---- the Scheduler contract ---------------------------------------------------------------

  /** The status the last squeue call reported (no Slurm command is run). */
  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#jobs.status(handle);
  }

  /** Resolves with the task's outcome once its job ended and its result (or failure) was read. */
  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#jobs.outcome(handle);
  }

  /** scancel of the job (or array task); cancellations of one moment share one call. No-op once ended. */
  async cancel(handle: JobHandle): Promise<void> {
    await this.#requestCancel(this.#jobs.get(handle), undefined);
  }

  /** Cancels the jobs still queued or running (they would outlive us otherwise) and stops polling. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    const closed = new SchedulerError(
      'PHYS_SCHEDULER',
      'The SlurmScheduler was closed before the task was submitted.',
    );
    for (const group of this.#groups.values()) for (const p of group.tasks) p.reject(closed);
    this.#groups.clear();
    await this.#flushing;
    if (this.#pollTimer !== undefined) {
      clearTimeout(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    // A poll may still be cleaning up after the jobs it just settled.
    await this.#pollDone;
    // Run directories whose tasks all succeeded are empty by now; failed tasks keep theirs.
    for (const dir of this.#runDirs) await rmdir(dir).catch(() => undefined);
    const active = [...this.#active];
    if (active.length > 0) {
      await this.#scancel(active.map((j) => j.handle.jobId));
      for (const job of active) {
        this.#settleError(
          job,
          ExecutionStatus.CANCELLED,
          new CancelledError(
            `Node '${job.handle.nodeId}' was cancelled: the SlurmScheduler was closed while Slurm job ${job.handle.jobId} was ${job.slurmState ?? 'queued'}.`,
          ),
        );
      }
    }
  }

  // ---- cancellation -----------------------------------------------------------------------

  async #requestCancel(job: Job, reason: unknown): Promise<void> {
    if (isTerminal(job.status)) return;
    job.cancelReason ??= reason;
    if (job.cancelRequested) return;
    job.cancelRequested = true;
    this.#cancelQueue.add(job);
    if (this.#cancelScheduled) return;
    this.#cancelScheduled = true;
    // Cancellations of one moment (fail-fast cancels every running node) share one scancel.
    await new Promise<void>((r) => setImmediate(r));
    this.#cancelScheduled = false;
    const jobs = [...this.#cancelQueue].filter((j) => !isTerminal(j.status));
    this.#cancelQueue.clear();
    if (jobs.length === 0) return;
    await this.#scancel(jobs.map((j) => j.handle.jobId));
    this.#interval = this.options.pollInterval;
    this.#schedulePoll(Math.min(this.#interval, 0.5));
  }

  async #scancel(ids: readonly string[]): Promise<void> {
    for (let at = 0; at < ids.length; at += 500) {
      const result = await this.#commands.run('scancel', ids.slice(at, at + 500));
      if (result.code !== 0 && !isInvalidJobIdError(result.stderr)) {
        this.#logger.warn(`scancel failed: ${describeFailure('scancel', result)}`);
      }
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

  readonly #tick = (): void => {
    this.#pollTimer = undefined;
    if (this.#polling) {
      this.#schedulePoll(this.#interval);
      return;
    }
    this.#polling = true;
    this.#pollDone = this.#poll()
      .catch((error: unknown) => {
        this.#logger.warn(`Slurm status check failed: ${String(error)}`);
        return false;
      })
      .then((changed) => {
        this.#polling = false;
        if (this.#active.size === 0 || this.#closed) return;
        const { pollInterval, maxPollInterval } = this.options;
        this.#interval = changed
          ? pollInterval
          : Math.min(maxPollInterval, Math.max(pollInterval, this.#interval * 1.5));
        this.#schedulePoll(this.#interval);
      });
  };

  /** One status check of every active job; true when any of them changed. */
  async #poll(): Promise<boolean> {
    if (this.#active.size === 0) return false;
    this.#polls++;
    // Jobs submitted while squeue runs are not in its answer: judge only the ones asked about.
    const asked = [...this.#active];
    const ids = [...new Set(asked.map((j) => parentId(j.handle.jobId)))].join(',');
    // One argument may hold at most 128 KiB; past that, all of the user's jobs are listed instead.
    const which = ids.length > MAX_ID_LIST_CHARS ? ['--me'] : ['-j', ids];
    const result = await this.#commands.run('squeue', [
      '-h',
      '-r',
      '-t',
      'all',
      '-o',
      SQUEUE_FORMAT,
      ...which,
    ]);
    let records: Map<string, SlurmJobRecord>;
    if (result.code === 0) {
      records = parseSqueue(result.stdout);
    } else if (result.error === undefined && isInvalidJobIdError(result.stderr)) {
      // Every id we asked about is gone from the controller.
      records = new Map();
    } else {
      this.#squeueFailed(result);
      return false;
    }
    this.#squeueFailingSince = undefined;
    let changed = false;
    const ended: Job[] = [];
    for (const job of asked) {
      if (isTerminal(job.status)) continue;
      const record = records.get(job.handle.jobId);
      if (record === undefined) {
        ended.push(job);
        continue;
      }
      job.missingPolls = 0;
      if (record.state !== job.slurmState || record.reason !== job.reason) changed = true;
      job.slurmState = record.state;
      job.reason = record.reason;
      const info = mapSlurmState(record.state);
      if (!info.known) this.#warnOnce(`state:${record.state}`, unknownStateMessage(record.state));
      if (info.terminal) {
        ended.push(job);
      } else {
        // Statuses only move forward: a job Slurm requeues (REQUEUED, PENDING again) stays RUNNING.
        if (info.status === ExecutionStatus.RUNNING) {
          job.status = ExecutionStatus.RUNNING;
          this.#startTimeout(job);
        }
        if (
          record.state === 'PENDING' &&
          record.reason !== undefined &&
          UNSATISFIABLE_PENDING_REASONS.has(record.reason)
        ) {
          changed = true;
          await this.#unsatisfiable(job, record.reason);
        }
      }
    }
    if (ended.length > 0 && (await this.#collect(ended))) changed = true;
    return changed;
  }

  #squeueFailed(result: CommandResult): void {
    const now = performance.now();
    this.#squeueFailingSince ??= now;
    const failingFor = (now - this.#squeueFailingSince) / 1000;
    const limit = Math.max(300, 10 * this.options.maxPollInterval);
    const why = describeFailure('squeue', result);
    if (result.error !== 'not-found' && failingFor < limit) {
      this.#logger.warn(`squeue failed (${why}); checking again later`);
      return;
    }
    for (const job of [...this.#active]) {
      this.#settleError(
        job,
        ExecutionStatus.FAILED,
        new SchedulerError(
          SLURM_ERROR_CODES.UNAVAILABLE,
          `Lost track of Slurm job ${job.handle.jobId} (node '${job.handle.nodeId}'): ${why}${result.error === 'not-found' ? '' : ` for ${Math.round(failingFor)} s`}. The job may still run; its work directory is ${job.taskDir}.`,
          { retryable: true, details: this.#details(job) },
        ),
      );
    }
  }

  /**
   * Slurm's `--time` counts whole minutes, so `timeoutSeconds` is enforced here: a job still
   * running that long after a poll first saw it running is cancelled and ends TIMEOUT. (The
   * `--time` set from it is a backstop for when this process is gone.)
   */
  #startTimeout(job: Job): void {
    const seconds = job.timeoutSeconds;
    if (seconds === undefined || job.timer !== undefined || job.cancelRequested) return;
    job.timer = setTimeout(() => {
      const { jobId, nodeId, attempt } = job.handle;
      void this.#requestCancel(
        job,
        new TimeoutError(
          `Node '${nodeId}' exceeded its timeout of ${seconds} s (attempt ${attempt}, Slurm job ${jobId}).`,
          { details: { nodeId, attempt, timeoutSeconds: seconds, slurmJobId: jobId } },
        ),
      );
    }, seconds * 1000);
  }

  async #unsatisfiable(job: Job, reason: string): Promise<void> {
    await this.#scancel([job.handle.jobId]);
    this.#settleError(
      job,
      ExecutionStatus.FAILED,
      new SchedulerError(
        SLURM_ERROR_CODES.UNSATISFIABLE,
        `Slurm job ${job.handle.jobId} (node '${job.handle.nodeId}') can never start: it is PENDING with Reason=${reason} for sbatch ${job.directives.join(' ')}. Ask for fewer cpus, less memory or time, or another partition (sinfo shows what the nodes have); the job was cancelled.`,
        { details: this.#details(job) },
      ),
    );
  }

  /**
   * Settles jobs squeue reports finished (or no longer lists). The result file decides success;
   * Slurm's state explains failures that left none: a time limit, memory, a node, a signal.
   * Returns true when any job was settled.
   */
  async #collect(jobs: readonly Job[]): Promise<boolean> {
    const lookup: Job[] = [];
    let settled = false;
    const results = await Promise.all(jobs.map((job) => readResult(job)));
    for (let k = 0; k < jobs.length; k++) {
      const job = jobs[k] as Job;
      const result = results[k];
      if (result?.envelope.status === 'COMPLETED') {
        await this.#settleCompleted(job, result);
      } else if (slurmEnded(job.slurmState)) {
        await this.#settleSlurmEnding(job, result);
      } else if (result !== undefined) {
        await this.#settleFromResult(job, result);
      } else {
        lookup.push(job);
        continue;
      }
      settled = true;
    }
    if (lookup.length === 0) return settled;
    // A bounded id list per poll; the rest are looked up at the next one.
    lookup.length = Math.min(lookup.length, MAX_LOOKUP);
    const details = await this.#lookup(lookup.map((j) => j.handle.jobId));
    const now = performance.now();
    for (const job of lookup) {
      const record = details.get(job.handle.jobId);
      const seen = job.slurmState !== undefined && mapSlurmState(job.slurmState).terminal;
      if (record === undefined && !seen) {
        // Neither squeue nor the lookup knows the job: purged (MinJobAge) before we saw it end, or lost.
        if (++job.missingPolls < LOST_AFTER_POLLS) continue;
        if (job.cancelRequested) await this.#settleSlurmEnding(job, undefined);
        else this.#settleLost(job);
        settled = true;
        continue;
      }
      if (record !== undefined) {
        if (!mapSlurmState(record.state).terminal) continue;
        job.slurmState = record.state;
        if (record.reason !== undefined) job.reason = record.reason;
      }
      if (slurmEnded(job.slurmState)) {
        await this.#settleSlurmEnding(job, undefined, record);
        settled = true;
        continue;
      }
      const exitCode = record?.exitCode;
      const expectsResult =
        job.slurmState === 'COMPLETED' ||
        (exitCode !== undefined && record?.signal === 0 && EXIT_CODES_WITH_RESULT.has(exitCode));
      if (expectsResult) {
        // The job says it wrote a result; a shared filesystem may show it late.
        job.awaitingResultSince ??= now;
        if ((now - job.awaitingResultSince) / 1000 < this.options.resultTimeout) continue;
        await this.#settleNoResult(job, record);
      } else {
        await this.#settleJobFailed(job, record);
      }
      settled = true;
    }
    return settled;
  }

  /** Exit codes and final states of finished jobs: sacct when Slurm keeps accounting, else scontrol. */
  async #lookup(ids: readonly string[]): Promise<Map<string, SlurmJobRecord>> {
    const parents = [...new Set(ids.map(parentId))];
    if (this.#accounting !== false) {
      const result = await this.#commands.run('sacct', [
        '-X',
        '-n',
        '-P',
        '-o',
        SACCT_FORMAT,
        '-j',
        parents.join(','),
      ]);
      if (result.code === 0) {
        this.#accounting = true;
        return parseSacct(result.stdout);
      }
      if (
        result.error === 'not-found' ||
        /accounting storage is disabled|slurmdbd|not configured/i.test(result.stderr)
      ) {
        this.#accounting = false;
        this.#logger.debug(
          `Slurm keeps no accounting (${describeFailure('sacct', result)}); finished jobs are read with scontrol`,
        );
      }
    }
    const out = new Map<string, SlurmJobRecord>();
    const calls = parents.length > SCONTROL_ONE_BY_ONE ? [[]] : parents.map((id) => [id]);
    for (const id of calls) {
      const result = await this.#commands.run('scontrol', ['-o', 'show', 'job', ...id]);
      if (result.code !== 0) continue;
      for (const [key, record] of parseScontrolJobs(result.stdout)) out.set(key, record);
    }
    return out;
  }

  // ---- outcomes -----------------------------------------------------------------------------

  async #settleCompleted(job: Job, result: ReadResult): Promise<void> {
    this.#settle(job, resultOutcome(result, job.granted));
    if (this.options.keepWorkDirs) return;
    const batch = job.batch;
    batch.succeeded++;
    await rm(batch.succeeded === batch.size ? batch.dir : job.taskDir, {
      recursive: true,
      force: true,
    }).catch(() => undefined);
  }

  /** The task itself failed, was cancelled or timed out, and said so in its result. */
  async #settleFromResult(job: Job, result: ReadResult): Promise<void> {
    const { envelope } = result;
    const status =
      envelope.status === 'CANCELLED'
        ? ExecutionStatus.CANCELLED
        : envelope.status === 'TIMEOUT'
          ? ExecutionStatus.TIMEOUT
          : ExecutionStatus.FAILED;
    const error: SerializedPhysError = envelope.error ?? {
      name: 'PhysError',
      code: 'PHYS_TASK_FAILED',
      message: `Node '${job.handle.nodeId}' ended ${envelope.status} without an error.`,
      retryable: false,
    };
    const tail = await logTail(job.logFile);
    this.#settle(job, {
      status,
      error: {
        ...error,
        message: `${error.message}${tailText(job, tail)}`,
        details: { ...error.details, ...this.#details(job), logTail: tail },
      },
      granted: job.granted,
    });
  }

  /** Slurm ended the job (time limit, memory, node failure, preemption, scancel). */
  async #settleSlurmEnding(
    job: Job,
    result: ReadResult | undefined,
    record?: SlurmJobRecord,
  ): Promise<void> {
    const state = job.slurmState ?? 'CANCELLED';
    const info = mapSlurmState(state);
    const cause = result?.envelope.error;
    const tail = await logTail(job.logFile);
    const details = { ...this.#details(job, record), logTail: tail };
    const { jobId, nodeId } = job.handle;
    if (job.cancelRequested) {
      // Cancelled by us: report why (a node timeout, fail-fast, the user), not just "cancelled".
      const reason: unknown = job.cancelReason;
      const error = PhysError.is(reason)
        ? reason
        : new CancelledError(`Node '${nodeId}' was cancelled (Slurm job ${jobId}).`, {
            ...(reason === undefined ? {} : { cause: reason }),
            details,
          });
      const status =
        error.code === 'PHYS_TIMEOUT' ? ExecutionStatus.TIMEOUT : ExecutionStatus.CANCELLED;
      this.#settleError(job, status, error);
      return;
    }
    const options = {
      retryable: info.retryable,
      details,
      ...(cause === undefined ? {} : { cause: cause }),
    };
    const where = `Slurm job ${jobId} (node '${nodeId}')`;
    const withTail = tailText(job, tail);
    let error: PhysError;
    switch (state) {
      case 'TIMEOUT':
      case 'DEADLINE':
        error = new TimeoutError(
          `${where} ${state === 'TIMEOUT' ? `hit its time limit${timeLimit(job)}` : 'passed its deadline'} and was stopped by Slurm (${state}). Ask for more wallTime.${withTail}`,
          options,
        );
        break;
      case 'CANCELLED':
        error = new CancelledError(
          `${where} was cancelled outside this run (scancel by a user or an administrator, or a dependency that can never be met).${withTail}`,
          options,
        );
        break;
      case 'OUT_OF_MEMORY':
        error = new SchedulerError(
          SLURM_ERROR_CODES.OOM,
          `${where} ran out of memory (OUT_OF_MEMORY)${memoryLimit(job)}. Ask for more memory in the node's resources.${withTail}`,
          options,
        );
        break;
      case 'PREEMPTED':
      case 'REVOKED':
        error = new SchedulerError(
          SLURM_ERROR_CODES.PREEMPTED,
          `${where} was ${state === 'PREEMPTED' ? 'preempted by a higher-priority job' : 'revoked'} (${state}); running it again can succeed (set retry on the node).${withTail}`,
          options,
        );
        break;
      default:
        error = new SchedulerError(
          info.code ?? SLURM_ERROR_CODES.JOB_FAILED,
          `${where} ended ${state}${job.reason === undefined || job.reason === 'None' ? '' : ` (Reason=${job.reason})`}: the node it ran on failed, not the task; running it again can succeed (set retry on the node).${withTail}`,
          options,
        );
    }
    this.#settleError(job, info.status, error);
  }

  /** FAILED without a result: the job script or `phys exec` died (signal, missing node, bad setup line). */
  async #settleJobFailed(job: Job, record: SlurmJobRecord | undefined): Promise<void> {
    const tail = await logTail(job.logFile);
    const exit = exitText(record);
    this.#settleError(
      job,
      ExecutionStatus.FAILED,
      new SchedulerError(
        SLURM_ERROR_CODES.JOB_FAILED,
        `Slurm job ${job.handle.jobId} (node '${job.handle.nodeId}') ended ${job.slurmState ?? 'FAILED'}${exit}${job.reason === undefined || job.reason === 'None' ? '' : `, Reason=${job.reason}`}, without writing a result.${tailText(job, tail)}`,
        { details: { ...this.#details(job, record), logTail: tail } },
      ),
    );
  }

  async #settleNoResult(job: Job, record: SlurmJobRecord | undefined): Promise<void> {
    const tail = await logTail(job.logFile);
    this.#settleError(
      job,
      ExecutionStatus.FAILED,
      new SchedulerError(
        SLURM_ERROR_CODES.NO_RESULT,
        `Slurm job ${job.handle.jobId} (node '${job.handle.nodeId}') ended ${job.slurmState ?? '?'}${exitText(record)}, but no result appeared in ${job.taskDir} within ${this.options.resultTimeout} s. Is workDir on a filesystem the compute nodes share?${tailText(job, tail)}`,
        { retryable: true, details: { ...this.#details(job, record), logTail: tail } },
      ),
    );
  }

  #settleLost(job: Job): void {
    this.#settleError(
      job,
      ExecutionStatus.FAILED,
      new SchedulerError(
        SLURM_ERROR_CODES.LOST,
        `Slurm no longer knows job ${job.handle.jobId} (node '${job.handle.nodeId}') and it left no result in ${job.taskDir}: it was purged (MinJobAge) before it was seen finishing, or the controller lost it. Running it again can succeed.`,
        { retryable: true, details: this.#details(job) },
      ),
    );
  }

  #details(job: Job, record?: SlurmJobRecord): Record<string, unknown> {
    return {
      nodeId: job.handle.nodeId,
      slurmJobId: job.handle.jobId,
      slurmState: job.slurmState,
      reason: job.reason,
      ...(record?.exitCode === undefined ? {} : { exitCode: record.exitCode }),
      ...(record?.signal === undefined ? {} : { signal: record.signal }),
      workDir: job.taskDir,
      logFile: job.logFile,
    };
  }

  #settleError(job: Job, status: ExecutionStatus, error: PhysError): void {
    this.#settle(job, { status, error: serializeError(error), granted: job.granted });
  }

  #settle(job: Job, outcome: TaskOutcome): void {
    if (!this.#jobs.settle(job, outcome)) return;
    if (job.timer !== undefined) clearTimeout(job.timer);
    this.#active.delete(job);
    job.unlisten();
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message);
  }
}

function abortReason(task: SchedulerTask): PhysError {
  const reason: unknown = task.signal?.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${task.nodeId}' was cancelled before it was submitted.`, {
        ...(reason === undefined ? {} : { cause: reason }),
      });
}

function grantOf(req: ResourceRequirements): GrantedResources {
  // Slurm exports only the granted GPUs, so inside the job they are numbered from 0; --mem is
  // rounded up to whole MiB, so the job has at least the memory that was asked for.
  return jobGrant(req, slurmCpus(req.cpu));
}

/** True for terminal states in which Slurm, not the task, ended the job (time limit, memory, node, scancel). */
function slurmEnded(state: string | undefined): boolean {
  if (state === undefined) return false;
  return (
    mapSlurmState(state).terminal &&
    state !== 'COMPLETED' &&
    state !== 'FAILED' &&
    state !== 'SPECIAL_EXIT'
  );
}

function parentId(jobId: string): string {
  const at = jobId.indexOf('_');
  return at < 0 ? jobId : jobId.slice(0, at);
}

async function readResult(job: Job): Promise<ReadResult | undefined> {
  try {
    return await readResultEnvelope(job.envelopeFile);
  } catch {
    return undefined;
  }
}

function tailText(job: Job, tail: string): string {
  return tail === ''
    ? `\nThe task envelope and the job's log are in ${job.taskDir}.`
    : `\nLast lines of the job's output (${job.logFile}):\n${tail}`;
}

function exitText(record: SlurmJobRecord | undefined): string {
  if (record?.exitCode === undefined) return '';
  return record.signal !== undefined && record.signal !== 0
    ? ` with exit code ${record.exitCode}, killed by signal ${record.signal}`
    : ` with exit code ${record.exitCode}`;
}

function timeLimit(job: Job): string {
  const time = job.directives.find((d) => d.startsWith('--time='));
  return time === undefined ? '' : ` (${time})`;
}

function memoryLimit(job: Job): string {
  const mem = job.directives.find((d) => d.startsWith('--mem='));
  return mem === undefined ? '' : ` (${mem})`;
}

function unknownStateMessage(state: string): string {
  return `Slurm reported the job state '${state}', which @phys/scheduler-slurm does not know; it is treated as running until it changes. Please report it.`;
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

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledError, ExecutionStatus, isTerminal, type JobHandle, type Logger, normalizeResources, PhysError, parseMemory, parsePluginOptions, type ResourceRequirements, type Scheduler, type SchedulerCapabilities, SchedulerError, type SchedulerTask, serializeError, silentLogger, type TaskOutcome } from '@phys/core';
import { deferred, JobTable, jobGrant, logTail, type ReadResult, readResultEnvelope, safeFileName, type TrackedJob, taskEnvelopeInit, writeTaskEnvelope } from '@phys/scheduler-kit';
import { taskEnvelopeEntry } from '@phys/runtime';
import { runCommand } from './commands.js';
import { jobName, pbsDirectives, selectStatement } from './directives.js';
import { interpretFinishedJob } from './exit-status.js';
import { buildJobScript } from './job-script.js';
import { type PbsSchedulerOptions, pbsOptionsSchema, type ResolvedPbsOptions } from './options.js';
import {
  isFinishedState,
  jobKey,
  type PbsJobRecord,
  parseQstatJson,
  pbsStateToStatus,
} from './qstat.js';

/** Options of {@link PbsScheduler.submit} beyond the task. @public */
export interface PbsSubmitOptions {
  /**
   * Start only after these jobs (of this scheduler) completed successfully: `-W
   * depend=afterok:...`. A subjob stands for its whole array, since PBS orders by array.
   */
  readonly afterOk?: readonly JobHandle[];
}

/** How many PBS commands a scheduler ran (for measurements and tests). @public */
export interface PbsCommandCounts {
  /** qsub calls, retries included. */
  readonly qsub: number;
  /** qstat calls: one per poll interval while jobs are in flight. */
  readonly qstat: number;
  /** qdel calls. */
  readonly qdel: number;
}

const RANK: Readonly<Record<ExecutionStatus, number>> = {
  QUEUED: 0,
  RUNNING: 1,
  COMPLETED: 2,
  FAILED: 2,
  CANCELLED: 2,
  TIMEOUT: 2,
};

// Polls of the result file while the shared filesystem catches up.
const RESULT_RECHECK_MS = 250;

interface PbsJob extends TrackedJob {
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly walltimeSeconds: number | undefined;
  readonly dir: string;
  readonly written: Promise<string>;
  readonly submitted: Promise<JobHandle>;
  readonly resolveSubmitted: (handle: JobHandle) => void;
  readonly rejectSubmitted: (error: unknown) => void;
  handle?: JobHandle;
  /** The task's own PBS id: `123.pbs01`, or `124[3].pbs01` in a job array. */
  pbsId?: string;
  /** What qstat is asked about: the job, or its array (`124[].pbs01`). */
  queryId?: string;
  errFile?: string;
  cancelRequested: boolean;
  /** When qstat first stopped reporting the job (ms since epoch). */
  missingSince: number | undefined;
  finishing: boolean;
}

/**
 * Runs phys tasks as PBS Pro / OpenPBS jobs. Each task is a task envelope on a shared
 * filesystem; tasks with equal resources submitted together go out as one job array (`qsub -J`,
 * `PBS_ARRAY_INDEX` picks the envelope); one `qstat -f -F json -x` call per poll interval
 * covers every job in flight; finished jobs are read from their result envelope and
 * `Exit_status`; `qdel` cancels.
 * @public
 */
export class PbsScheduler implements Scheduler {
  /** `pbs`. */
  readonly name = 'pbs';
  /** Arrays, afterok dependencies and cancel; `maxResources` from the option of that name. */
  readonly capabilities: SchedulerCapabilities;
  /** The options after validation and defaults. */
  readonly options: ResolvedPbsOptions;
  /** The config jobs rebuild stages from. */
  readonly configFile: string;
  /** Where envelopes, scripts and logs go (on the shared filesystem). */
  readonly workDir: string;

  readonly #logger: Logger;
  readonly #command: readonly string[];
  readonly #maxMemory: number | undefined;
  readonly #jobs = new JobTable<PbsJob>({
    scheduler: 'PbsScheduler',
    unknownJobCode: 'PHYS_SCHEDULER_PBS_UNKNOWN_JOB',
  });
  readonly #pending = new Map<string, { afterOk: string[]; jobs: PbsJob[] }>();
  #flushScheduled = false;
  #taskSeq = 0;
  #batchSeq = 0;
  #polling = false;
  #wake: (() => void) | undefined;
  #closed = false;
  #counts = { qsub: 0, qstat: 0, qdel: 0 };

  constructor(options: PbsSchedulerOptions, logger: Logger = silentLogger) {
    const parsed = parsePluginOptions('scheduler-pbs', pbsOptionsSchema, options);
    if (parsed.configFile === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_NO_CONFIG',
        'PbsScheduler needs `configFile`: the phys.config.* that declares the stages its jobs rebuild (on the shared filesystem).',
      );
    }
    this.options = parsed;
    this.configFile = parsed.configFile;
    this.workDir = parsed.workDir ?? join(tmpdir(), 'phys-pbs');
    this.#logger = logger;
    this.#command = parsed.command ?? [parsed.node ?? process.execPath, taskEnvelopeEntry()];
    const max = parsed.maxResources;
    this.#maxMemory = max?.memory === undefined ? undefined : parseMemory(max.memory);
    this.capabilities = Object.freeze({
      arrays: true,
      dependencies: true,
      gpus: max === undefined ? true : max.gpu > 0,
      cancel: true,
      ...(max === undefined
        ? {}
        : {
            maxResources: Object.freeze({
              cpu: max.cpu,
              gpu: max.gpu,
              ...(this.#maxMemory === undefined ? {} : { memoryBytes: this.#maxMemory }),
              mpiRanks: Math.max(1, Math.floor(max.cpu)),
            }),
          }),
    });
  }

  /** How many qsub, qstat and qdel calls this scheduler made. */
  get commandCounts(): PbsCommandCounts {
    return { ...this.#counts };
  }

  /**
   * Submits a task. Tasks submitted in the same tick with the same resources, walltime and
   * dependencies become one job array; the handle resolves once qsub accepted the job.
   */
  submit(task: SchedulerTask, options: PbsSubmitOptions = {}): Promise<JobHandle> {
    if (this.#closed) {
      return Promise.reject(
        new SchedulerError(
          'PHYS_SCHEDULER_PBS_CLOSED',
          'The PbsScheduler is closed; create a new one.',
        ),
      );
    }
    let req: ResourceRequirements;
    let afterOk: string[];
    try {
      req = normalizeResources(task.resources);
      this.#checkResources(task.nodeId, req);
      afterOk = (options.afterOk ?? []).map((h) => this.#dependencyId(h));
    } catch (error) {
      return Promise.reject(error);
    }
    const walltimeSeconds = task.timeoutSeconds ?? req.wallTimeSeconds;
    const dir = join(
      this.workDir,
      safeFileName(task.runId),
      `${safeFileName(task.nodeId)}.${task.attempt}.t${++this.#taskSeq}`,
    );
    const written = writeTaskEnvelope(
      dir,
      taskEnvelopeInit(task, this.configFile, jobGrant(req)),
      task.input,
    );
    // Settled through `submitted`; an unhandled rejection here would only duplicate it.
    written.catch(() => undefined);
    const submitted = deferred<JobHandle>();
    const outcome = deferred<TaskOutcome>();
    const job: PbsJob = {
      task,
      req,
      walltimeSeconds,
      dir,
      written,
      submitted: submitted.promise,
      resolveSubmitted: submitted.resolve,
      rejectSubmitted: submitted.reject,
      outcome: outcome.promise,
      resolve: outcome.resolve,
      status: ExecutionStatus.QUEUED,
      cancelRequested: false,
      missingSince: undefined,
      finishing: false,
    };
    const key = JSON.stringify([selectStatement(req), walltimeSeconds ?? null, afterOk]);
    let group = this.#pending.get(key);
    if (group === undefined) {
      group = { afterOk, jobs: [] };
      this.#pending.set(key, group);
    }
    group.jobs.push(job);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => void this.#flush());
    }
    if (task.signal !== undefined) {
      const onAbort = (): void => {
        if (job.handle === undefined) job.cancelRequested = true;
        else void this.cancel(job.handle).catch(() => undefined);
      };
      if (task.signal.aborted) onAbort();
      else task.signal.addEventListener('abort', onAbort, { once: true });
    }
    return job.submitted;
  }

  /** The status seen by the last qstat (QUEUED until the first one after submit). */
  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#jobs.status(handle);
  }

  /** Resolves with the outcome once the job finished and its result was read. */
  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#jobs.outcome(handle);
  }

  /** `qdel`s the job; its status turns CANCELLED once qstat reports it finished. */
  async cancel(handle: JobHandle): Promise<void> {
    const job = this.#jobs.get(handle);
    if (isTerminal(job.status) || job.cancelRequested) return;
    job.cancelRequested = true;
    if (job.finishing) return;
    try {
      await this.#qdel([job.pbsId as string]);
    } catch (error) {
      job.cancelRequested = false;
      throw error;
    }
    this.#wake?.();
  }

  /** Stops polling; jobs still queued or running are deleted (`cancelOnClose`) and end CANCELLED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const active = [...this.#jobs.values()].filter((j) => !isTerminal(j.status));
    if (this.options.cancelOnClose && active.length > 0) {
      await this.#qdel([...new Set(active.map((j) => j.pbsId as string))]).catch((error: unknown) =>
        this.#logger.warn(`qdel on close failed: ${(error as Error).message}`),
      );
    }
    for (const job of active) {
      job.cancelRequested = true;
      this.#jobs.settle(job, {
        status: ExecutionStatus.CANCELLED,
        error: serializeError(
          new CancelledError(
            `Node '${job.task.nodeId}' (job ${job.pbsId}) was cancelled: the scheduler closed.`,
          ),
        ),
      });
    }
    this.#wake?.();
  }

  #checkResources(nodeId: string, req: ResourceRequirements): void {
    const max = this.options.maxResources;
    if (max === undefined) return;
    const problems: string[] = [];
    if (req.cpu * req.mpiRanks > max.cpu)
      problems.push(`${req.cpu * req.mpiRanks} cpus (max ${max.cpu})`);
    if (req.gpu > max.gpu) problems.push(`${req.gpu} gpus (max ${max.gpu})`);
    if (
      req.memoryBytes !== undefined &&
      this.#maxMemory !== undefined &&
      req.memoryBytes > this.#maxMemory
    ) {
      problems.push(`${req.memoryBytes} bytes of memory (max ${this.#maxMemory})`);
    }
    if (problems.length > 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_RESOURCES',
        `Node '${nodeId}' asks for ${problems.join(', ')}, more than the largest job maxResources allows. Lower the request or raise maxResources if the cluster has bigger nodes.`,
        { details: { nodeId } },
      );
    }
  }

  #dependencyId(handle: JobHandle): string {
    return this.#jobs.get(handle).queryId as string;
  }

  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    const groups = [...this.#pending.values()];
    this.#pending.clear();
    for (const group of groups) {
      for (let i = 0; i < group.jobs.length; i += this.options.maxArraySize) {
        const chunk = group.jobs.slice(i, i + this.options.maxArraySize);
        await this.#submitBatch(chunk, group.afterOk).catch((error: unknown) => {
          for (const job of chunk) job.rejectSubmitted(error);
        });
      }
    }
  }

  async #submitBatch(all: readonly PbsJob[], afterOk: readonly string[]): Promise<void> {
    const written = await Promise.allSettled(all.map((j) => j.written));
    const jobs: PbsJob[] = [];
    const envelopes: string[] = [];
    for (const [i, job] of all.entries()) {
      const w = written[i] as PromiseSettledResult<string>;
      if (w.status === 'rejected') job.rejectSubmitted(w.reason);
      else {
        jobs.push(job);
        envelopes.push(w.value);
      }
    }
    const first = jobs[0];
    if (first === undefined) return;
    if (this.#closed) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_CLOSED',
        'The PbsScheduler closed before these tasks were submitted.',
      );
    }
    const batchDir = join(this.workDir, safeFileName(first.task.runId), 'pbs');
    await mkdir(batchDir, { recursive: true });
    const base = `b${++this.#batchSeq}`;
    const array = jobs.length > 1;
    const logPath = (ext: string) =>
      join(batchDir, array ? `${base}.^array_index^.${ext}` : `${base}.${ext}`);
    const name = jobName(
      this.options.jobNamePrefix,
      array ? `${first.task.stage.name}-x${jobs.length}` : first.task.nodeId,
    );
    const directives = pbsDirectives({
      name,
      req: first.req,
      walltimeSeconds: first.walltimeSeconds,
      queue: this.options.queue,
      account: this.options.account,
      project: this.options.project,
      arraySize: array ? jobs.length : undefined,
      afterOk,
      outputPath: logPath('out'),
      errorPath: logPath('err'),
      extra: this.options.qsubArgs,
    });
    let task: { envelope: string } | { manifest: string };
    if (array) {
      const manifest = join(batchDir, `${base}.tasks`);
      await writeFile(manifest, `${envelopes.join('\n')}\n`);
      task = { manifest };
    } else {
      task = { envelope: envelopes[0] as string };
    }
    const script = join(batchDir, `${base}.pbs`);
    await writeFile(
      script,
      buildJobScript({
        directives,
        setup: this.options.setup,
        env: this.options.env,
        command: this.#command,
        task,
      }),
    );
    const id = await this.#qsub(script, batchDir);
    for (const [i, job] of jobs.entries()) {
      job.pbsId = array ? id.replace('[]', `[${i}]`) : id;
      job.queryId = id;
      job.errFile = logPath('err').replace('^array_index^', String(i));
      const handle: JobHandle = Object.freeze({
        jobId: job.pbsId,
        nodeId: job.task.nodeId,
        attempt: job.task.attempt,
      });
      job.handle = handle;
      this.#jobs.add(handle, job);
      job.resolveSubmitted(handle);
      if (job.cancelRequested) {
        job.cancelRequested = false;
        void this.cancel(handle).catch(() => undefined);
      }
    }
    if (this.#closed) {
      // close() ran while qsub was in flight: nobody polls these jobs any more.
      await this.#qdel(jobs.map((j) => j.pbsId as string)).catch(() => undefined);
      for (const job of jobs) {
        job.cancelRequested = true;
        this.#jobs.settle(job, {
          status: ExecutionStatus.CANCELLED,
          error: serializeError(
            new CancelledError(
              `Node '${job.task.nodeId}' (job ${job.pbsId}) was cancelled: the scheduler closed.`,
            ),
          ),
        });
      }
      return;
    }
    this.#startPolling();
  }

  async #qsub(script: string, cwd: string): Promise<string> {
    const { qsub } = this.options.commands;
    let lastError: PhysError | undefined;
    for (let attempt = 1; attempt <= this.options.submitAttempts; attempt++) {
      if (attempt > 1) {
        await delay(this.options.submitRetryDelaySeconds * 1000 * 2 ** (attempt - 2));
      }
      try {
        const res = await runCommand(qsub, [script], {
          timeoutMs: this.options.commandTimeoutSeconds * 1000,
          cwd,
        });
        this.#counts.qsub++;
        const line = res.stdout.trim().split('\n').at(-1)?.trim() ?? '';
        if (res.code === 0 && /^\d+(\[\])?(\.\S+)?$/.test(line)) return line;
        const stderr = res.stderr.trim();
        const permanent =
          res.code === 0 ||
          /unknown queue|exceeds|illegal|unknown resource|unauthorized|not allowed|invalid|bad uid/i.test(
            stderr,
          );
        lastError = new SchedulerError(
          'PHYS_SCHEDULER_PBS_SUBMIT_FAILED',
          res.code === 0
            ? `qsub ${script} printed no job id (stdout: ${JSON.stringify(res.stdout.trim())}).`
            : `qsub ${script} failed (exit ${res.code}): ${stderr || '(no message)'}${permanent ? '' : ` [attempt ${attempt} of ${this.options.submitAttempts}]`}`,
          { retryable: !permanent, details: { script, exitCode: res.code, stderr } },
        );
        if (permanent) break;
      } catch (error) {
        lastError = PhysError.is(error)
          ? error
          : new SchedulerError('PHYS_SCHEDULER_PBS_SUBMIT_FAILED', String(error), { cause: error });
        if (!lastError.retryable) break;
      }
      this.#logger.warn(lastError.message);
    }
    throw lastError as PhysError;
  }

  async #qdel(ids: readonly string[]): Promise<void> {
    const res = await runCommand(this.options.commands.qdel, ids, {
      timeoutMs: this.options.commandTimeoutSeconds * 1000,
    });
    this.#counts.qdel++;
    const problems = res.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/has finished|unknown job id|invalid for state/i.test(l));
    if (res.code !== 0 && problems.length > 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_QDEL_FAILED',
        `qdel ${ids.join(' ')} failed (exit ${res.code}): ${problems.join('; ')}`,
        { retryable: true, details: { ids, stderr: res.stderr } },
      );
    }
  }

  #startPolling(): void {
    if (this.#polling) {
      this.#wake?.();
      return;
    }
    this.#polling = true;
    void this.#pollLoop().finally(() => {
      this.#polling = false;
    });
  }

  async #pollLoop(): Promise<void> {
    const { initialSeconds, multiplier, maxSeconds } = this.options.pollInterval;
    let interval = initialSeconds;
    while (!this.#closed && this.#tracked().length > 0) {
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), interval * 1000);
        this.#wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.#wake = undefined;
      if (this.#closed) return;
      let changed = woken;
      try {
        changed = (await this.#pollOnce()) || changed;
      } catch (error) {
        this.#logger.warn(
          `qstat failed, retrying at the next interval: ${(error as Error).message}`,
        );
      }
      interval = changed ? initialSeconds : Math.min(maxSeconds, interval * multiplier);
    }
  }

  #tracked(): PbsJob[] {
    return [...this.#jobs.values()].filter((j) => !isTerminal(j.status) && !j.finishing);
  }

  /** One qstat call for every job in flight; returns whether any job changed. */
  async #pollOnce(): Promise<boolean> {
    const jobs = this.#tracked();
    if (jobs.length === 0) return false;
    const ids = [...new Set(jobs.map((j) => j.queryId as string))];
    const hasArrays = ids.some((id) => id.includes('[]'));
    const res = await runCommand(
      this.options.commands.qstat,
      ['-f', '-F', 'json', '-x', ...(hasArrays ? ['-t'] : []), ...ids],
      { timeoutMs: this.options.commandTimeoutSeconds * 1000 },
    );
    this.#counts.qstat++;
    const parsed = parseQstatJson(res.stdout, res.stderr);
    if (parsed === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_QSTAT',
        `qstat exited ${res.code} without JSON output: ${res.stderr.trim() || res.stdout.trim().slice(0, 200)}`,
        { retryable: true },
      );
    }
    const now = Date.now();
    let changed = false;
    for (const job of jobs) {
      if (isTerminal(job.status) || job.finishing) continue;
      const record = parsed.jobs.get(jobKey(job.pbsId as string));
      if (record === undefined) {
        const parent =
          job.queryId === job.pbsId ? undefined : parsed.jobs.get(jobKey(job.queryId as string));
        // An array PBS has not expanded into subjobs yet.
        if (parent !== undefined && !isFinishedState(parent.job_state)) continue;
        job.missingSince ??= now;
        if ((await this.#readResult(job)) !== undefined) {
          void this.#finish(job, undefined);
          changed = true;
        } else if (now - job.missingSince >= this.options.lostJobGraceSeconds * 1000) {
          this.#lost(job);
          changed = true;
        }
        continue;
      }
      job.missingSince = undefined;
      if (isFinishedState(record.job_state)) {
        void this.#finish(job, record);
        changed = true;
        continue;
      }
      const status = pbsStateToStatus(record.job_state);
      // Never backwards: a rerun job (R → Q) stays RUNNING for callers.
      if (status !== undefined && RANK[status] > RANK[job.status]) {
        job.status = status;
        changed = true;
      }
    }
    return changed;
  }

  async #finish(job: PbsJob, record: PbsJobRecord | undefined): Promise<void> {
    job.finishing = true;
    try {
      let result = await this.#readResult(job);
      if (result === undefined && !job.cancelRequested && expectsResult(record)) {
        // The job ended, but the shared filesystem may not show its result here yet.
        const deadline = Date.now() + this.options.lostJobGraceSeconds * 1000;
        while (result === undefined && Date.now() < deadline && !this.#closed) {
          await delay(Math.min(RESULT_RECHECK_MS, this.options.lostJobGraceSeconds * 1000));
          result = await this.#readResult(job);
        }
      }
      const outcome = interpretFinishedJob({
        jobId: job.pbsId as string,
        nodeId: job.task.nodeId,
        record,
        result,
        cancelRequested: job.cancelRequested,
        walltimeSeconds: job.walltimeSeconds,
        stderrTail: job.errFile === undefined ? '' : await logTail(job.errFile),
        workDir: job.dir,
        granted: jobGrant(job.req),
      });
      if (outcome.status === ExecutionStatus.COMPLETED && !this.options.keepWorkDirs) {
        await rm(job.dir, { recursive: true, force: true });
      }
      this.#jobs.settle(job, outcome);
    } catch (error) {
      this.#jobs.settle(job, {
        status: ExecutionStatus.FAILED,
        error: serializeError(
          new SchedulerError(
            'PHYS_SCHEDULER_PBS_RESULT',
            `Reading the result of job ${job.pbsId} (node '${job.task.nodeId}') failed: ${(error as Error).message}`,
            { cause: error },
          ),
        ),
      });
    }
  }

  #lost(job: PbsJob): void {
    this.#jobs.settle(job, {
      status: ExecutionStatus.FAILED,
      error: serializeError(
        new SchedulerError(
          'PHYS_SCHEDULER_PBS_LOST',
          `Job ${job.pbsId} of node '${job.task.nodeId}' vanished from qstat without a result (waited ${this.options.lostJobGraceSeconds} s); the node can be retried. Logs and the task envelope are in ${job.dir}.`,
          { retryable: true, details: { jobId: job.pbsId, workDir: job.dir } },
        ),
      ),
      granted: jobGrant(job.req),
    });
  }

  async #readResult(job: PbsJob): Promise<ReadResult | undefined> {
    return readResultEnvelope(await job.written).catch(() => undefined);
  }
}

/** Exit statuses after which the task process itself wrote a result (see TASK_EXIT_CODES). */
function expectsResult(record: PbsJobRecord | undefined): boolean {
  const exit = record?.Exit_status;
  return exit === 0 || exit === 1 || exit === 3 || exit === 4;
}

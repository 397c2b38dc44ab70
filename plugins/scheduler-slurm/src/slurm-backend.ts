import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type GrantedResources,
  JobFailureError,
  type Logger,
  type ResourceRequirements,
  type SchedulerCapabilities,
  SchedulerError,
  type SchedulerTask,
} from '@phys/core';
import {
  type BatchJobState,
  type BatchQueueBackend,
  type BatchSubmission,
  jobGrant,
} from '@phys/scheduler-kit';
import { type CommandResult, describeFailure, type SlurmCommands } from './command.js';
import {
  arrayDirective,
  jobName,
  literalSlurmPath,
  resourceDirectives,
  slurmCpus,
} from './directives.js';
import { renderJobScript, shellQuote } from './job-script.js';
import { parseSinfoNodes, SINFO_FORMAT, slurmStalls } from './nodes.js';
import type { ResolvedSlurmOptions } from './options.js';
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

/** Longest `-j` id list handed to one command. */
const MAX_ID_LIST_CHARS = 100_000;
/** With more distinct jobs to look up than this, one `scontrol show job` lists them all. */
const SCONTROL_ONE_BY_ONE = 4;
/** Jobs one scancel call names at most. */
const SCANCEL_CHUNK = 500;

/**
 * Slurm as a batch system for `BatchQueueScheduler`: `sbatch --parsable` (a job array for a
 * batch of tasks), one `squeue` per poll, `sacct` (when Slurm keeps accounting) or `scontrol
 * show job` for jobs that ended without a result, `scancel`, and Slurm's state table.
 */
export class SlurmBackend implements BatchQueueBackend<SlurmJobRecord> {
  readonly name = 'slurm';
  /** Job arrays, GPUs and cancellation; dependencies stay with the executor, which submits only ready nodes. */
  readonly capabilities: SchedulerCapabilities = Object.freeze({
    arrays: true,
    dependencies: false,
    gpus: true,
    cancel: true,
  });
  readonly logFileName = 'slurm.out';

  readonly #options: Readonly<ResolvedSlurmOptions>;
  readonly #commands: SlurmCommands;
  readonly #configFile: string;
  readonly #logger: Logger;
  #accounting: boolean | undefined;
  readonly #warned = new Set<string>();

  constructor(
    options: Readonly<ResolvedSlurmOptions>,
    commands: SlurmCommands,
    configFile: string,
    logger: Logger,
  ) {
    this.#options = options;
    this.#commands = commands;
    this.#configFile = configFile;
    this.#logger = logger;
  }

  /** Tasks with equal sbatch resource options share an array. */
  batchKey(task: SchedulerTask, req: ResourceRequirements): string {
    return this.#directives(task, req).join(' ');
  }

  grant(req: ResourceRequirements): GrantedResources {
    // Slurm exports only the granted GPUs, so inside the job they are numbered from 0; --mem is
    // rounded up to whole MiB, so the job has at least the memory that was asked for.
    return jobGrant(req, slurmCpus(req.cpu));
  }

  async submit(batch: BatchSubmission): Promise<readonly string[]> {
    const first = batch.tasks[0];
    if (first === undefined) return [];
    const n = batch.tasks.length;
    const isArray = n > 1;
    const args = [
      '--parsable',
      `--job-name=${jobName(this.#options.jobNamePrefix, batch.stage.name)}`,
      `--chdir=${dirname(this.#configFile)}`,
      `--output=${literalSlurmPath(batch.dir)}/${isArray ? '%a' : '0'}/${this.logFileName}`,
      ...(isArray ? [arrayDirective(n, this.#options.arrayParallelism)] : []),
      ...this.#directives(first.task, first.resources),
      ...this.#options.extraSbatchArgs,
    ];
    const script = join(batch.dir, 'job.sh');
    await writeFile(
      script,
      renderJobScript({
        batchDir: batch.dir,
        setup: this.#options.setup,
        execCommand: batch.command,
        comments: [
          `Written by @phys/scheduler-slurm: ${n} task(s) of stage ${batch.stage.name}@${batch.stage.version}, run ${batch.runId}.`,
          `Submitted as: sbatch ${[...args, script].map(shellQuote).join(' ')}`,
          'Task i runs the envelope <this dir>/i/task.json; nodes.tsv maps indices to nodes.',
        ],
      }),
      { mode: 0o755 },
    );
    const jobId = await this.#sbatch([...args, script], n, batch.stage.name, batch.signal);
    return batch.tasks.map((_, i) => (isArray ? `${jobId}_${i}` : jobId));
  }

  /** One `squeue` call for every job, array tasks expanded. */
  async query(jobIds: readonly string[]): Promise<ReadonlyMap<string, SlurmJobRecord>> {
    const ids = [...new Set(jobIds.map(parentId))].join(',');
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
    if (result.code === 0) return parseSqueue(result.stdout);
    // Every id we asked about is gone from the controller.
    if (result.error === undefined && isInvalidJobIdError(result.stderr)) return new Map();
    throw unavailable('squeue', result);
  }

  /** Exit codes and final states of finished jobs: sacct when Slurm keeps accounting, else scontrol. */
  async lookup(jobIds: readonly string[]): Promise<ReadonlyMap<string, SlurmJobRecord>> {
    const parents = [...new Set(jobIds.map(parentId))];
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

  /**
   * One `sinfo` for the nodes of the partitions the jobs run or wait in: a job on a node that is
   * down or not responding, or pending while no node of its partitions can start jobs, is
   * stalled (see `slurmStalls`).
   */
  async stalls(jobs: ReadonlyMap<string, SlurmJobRecord>): Promise<ReadonlyMap<string, string>> {
    const partitions = new Set<string>();
    for (const record of jobs.values()) {
      for (const p of record.partition?.split(',') ?? []) if (p !== '') partitions.add(p);
    }
    const which = partitions.size === 0 ? [] : ['-p', [...partitions].join(',')];
    const result = await this.#commands.run('sinfo', ['-h', '-N', '-o', SINFO_FORMAT, ...which]);
    if (result.code !== 0) throw unavailable('sinfo', result);
    return slurmStalls(jobs, parseSinfoNodes(result.stdout));
  }

  async cancel(jobIds: readonly string[]): Promise<void> {
    for (let at = 0; at < jobIds.length; at += SCANCEL_CHUNK) {
      const result = await this.#commands.run('scancel', jobIds.slice(at, at + SCANCEL_CHUNK));
      if (result.code !== 0 && !isInvalidJobIdError(result.stderr))
        throw unavailable('scancel', result);
    }
  }

  mapState(record: SlurmJobRecord): BatchJobState {
    const info = mapSlurmState(record.nativeState);
    if (!info.known) this.#warnOnce(record.nativeState);
    const { status, terminal, failure } = info;
    if (
      !terminal &&
      record.nativeState === 'PENDING' &&
      record.reason !== undefined &&
      UNSATISFIABLE_PENDING_REASONS.has(record.reason)
    ) {
      return { status, terminal, failure: 'UNSATISFIABLE' };
    }
    return failure === undefined ? { status, terminal } : { status, terminal, failure };
  }

  #directives(task: SchedulerTask, req: ResourceRequirements): string[] {
    return resourceDirectives(req, this.#options, task.timeoutSeconds);
  }

  /** Runs sbatch, retrying failures that say the controller was unreachable or busy. */
  async #sbatch(
    args: readonly string[],
    n: number,
    stage: string,
    signal: AbortSignal,
  ): Promise<string> {
    const { submitRetries, submitRetryDelay } = this.#options;
    let delay = submitRetryDelay;
    for (let attempt = 0; ; attempt++) {
      // Closed, or every task of the batch cancelled, while waiting to retry: nothing to submit.
      signal.throwIfAborted();
      const result = await this.#commands.run('sbatch', args, dirname(this.#configFile));
      const jobId = result.code === 0 ? parseSbatchParsable(result.stdout) : undefined;
      if (jobId !== undefined) return jobId;
      const transient =
        result.error === 'timeout' ||
        (result.error === undefined && isTransientSlurmError(result.stderr));
      const command = [this.#commands.path('sbatch'), ...args].map(shellQuote).join(' ');
      if (result.error === 'not-found' || (transient && attempt >= submitRetries)) {
        throw new SchedulerError(
          SLURM_ERROR_CODES.UNAVAILABLE,
          `Cannot submit ${n} task(s) of stage '${stage}' to Slurm: ${describeFailure('sbatch', result)}${transient ? ` (gave up after ${attempt + 1} attempts). The controller was unreachable or busy; try again later.` : '.'}`,
          {
            retryable: transient,
            details: {
              command,
              exitCode: result.code,
              stderr: result.stderr.trim(),
              attempts: attempt + 1,
            },
          },
        );
      }
      if (!transient) {
        throw new JobFailureError('SUBMIT_FAILED', {
          scheduler: this.name,
          nativeState:
            result.code === 0 ? 'sbatch printed no job id' : `sbatch exit ${result.code}`,
          note: `${result.code === 0 ? `sbatch printed ${JSON.stringify(result.stdout.trim())}` : describeFailure('sbatch', result)}\nCommand: ${command}`,
        });
      }
      this.#logger.warn(
        `sbatch failed transiently (${describeFailure('sbatch', result)}); retrying in ${delay} s`,
      );
      await sleep(delay * 1000, undefined, { signal }).catch(() => {
        throw signal.reason;
      });
      delay = Math.min(60, Math.max(delay * 2, 0.05));
    }
  }

  #warnOnce(state: string): void {
    if (this.#warned.has(state)) return;
    this.#warned.add(state);
    this.#logger.warn(
      `Slurm reported the job state '${state}', which @phys/scheduler-slurm does not know; it is treated as running until it changes. Please report it.`,
    );
  }
}

function parentId(jobId: string): string {
  const at = jobId.indexOf('_');
  return at < 0 ? jobId : jobId.slice(0, at);
}

function unavailable(name: string, result: CommandResult): SchedulerError {
  // A missing command stays missing: no point in asking again.
  return new SchedulerError(SLURM_ERROR_CODES.UNAVAILABLE, describeFailure(name, result), {
    retryable: result.error !== 'not-found',
    details: { command: name, exitCode: result.code, stderr: result.stderr.trim() },
  });
}

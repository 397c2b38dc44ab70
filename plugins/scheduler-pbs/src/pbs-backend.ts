import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  JobFailureError,
  type Logger,
  PhysError,
  type ResourceRequirements,
  type SchedulerCapabilities,
  SchedulerError,
  type SchedulerTask,
} from '@phys/core';
import type { BatchJobState, BatchQueueBackend, BatchSubmission } from '@phys/scheduler-kit';
import { runCommand } from './commands.js';
import { jobName, pbsDirectives, selectStatement } from './directives.js';
import { mapPbsState, type PbsJobStatus, pbsJobStatus } from './exit-status.js';
import { buildJobScript } from './job-script.js';
import { parsePbsnodesJson, pbsStalls } from './nodes.js';
import type { ResolvedPbsOptions } from './options.js';
import { isFinishedState, jobKey, parseQstatJson } from './qstat.js';

/** How many PBS commands a scheduler ran (for measurements and tests). @public */
export interface PbsCommandCounts {
  /** qsub calls, retries included. */
  readonly qsub: number;
  /** qstat calls: one per poll interval while jobs are in flight. */
  readonly qstat: number;
  /** qdel calls. */
  readonly qdel: number;
  /** pbsnodes calls: one per poll interval while jobs are in flight, for the state of their nodes. */
  readonly pbsnodes: number;
}

// What qsub says when the request itself is wrong: asking again cannot help.
const PERMANENT =
  /unknown queue|exceeds|illegal|unknown resource|unauthorized|not allowed|invalid|bad uid/i;

/**
 * PBS Pro / OpenPBS as a batch system for `BatchQueueScheduler`: `qsub` (a job array `-J` for a
 * batch of tasks, `-W depend=afterok`), one `qstat -f -F json -x [-t]` per poll, `qdel`, and the
 * `Exit_status` table of {@link mapPbsState}.
 */
export class PbsBackend implements BatchQueueBackend<PbsJobStatus> {
  readonly name = 'pbs';
  readonly capabilities: SchedulerCapabilities;
  readonly logFileName = 'pbs.log';
  readonly counts = { qsub: 0, qstat: 0, qdel: 0, pbsnodes: 0 };

  readonly #options: ResolvedPbsOptions;
  readonly #maxMemory: number | undefined;
  readonly #logger: Logger;

  constructor(options: ResolvedPbsOptions, maxMemory: number | undefined, logger: Logger) {
    this.#options = options;
    this.#maxMemory = maxMemory;
    this.#logger = logger;
    const max = options.maxResources;
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
              ...(maxMemory === undefined ? {} : { memoryBytes: maxMemory }),
              mpiRanks: Math.max(1, Math.floor(max.cpu)),
            }),
          }),
    });
  }

  /** Rejects requests beyond `maxResources`; tasks with equal `select` and walltime share an array. */
  batchKey(task: SchedulerTask, req: ResourceRequirements): string {
    this.#checkResources(task.nodeId, req);
    return JSON.stringify([selectStatement(req), walltimeOf(task, req) ?? null]);
  }

  async submit(batch: BatchSubmission): Promise<readonly string[]> {
    const first = batch.tasks[0];
    if (first === undefined) return [];
    const array = batch.tasks.length > 1;
    const name = jobName(
      this.#options.jobNamePrefix,
      array ? `${batch.stage.name}-x${batch.tasks.length}` : first.task.nodeId,
    );
    const directives = pbsDirectives({
      name,
      req: first.resources,
      walltimeSeconds: walltimeOf(first.task, first.resources),
      queue: this.#options.queue,
      account: this.#options.account,
      project: this.#options.project,
      arraySize: array ? batch.tasks.length : undefined,
      // A subjob stands for its whole array: PBS orders jobs by array.
      afterOk: [...new Set(batch.afterOk.map(arrayId))],
      outputPath: join(batch.dir, array ? '^array_index^' : '0', this.logFileName),
      extra: this.#options.qsubArgs,
    });
    const script = join(batch.dir, 'job.pbs');
    await writeFile(
      script,
      buildJobScript({
        directives,
        setup: this.#options.setup,
        env: this.#options.env,
        command: batch.command,
        batchDir: batch.dir,
      }),
    );
    const id = await this.#qsub(script, batch.dir, batch.signal);
    return batch.tasks.map((_, i) => (array ? id.replace('[]', `[${i}]`) : id));
  }

  /** One qstat call for every job in flight: arrays by their `124[]` id, expanded with `-t`. */
  async query(jobIds: readonly string[]): Promise<ReadonlyMap<string, PbsJobStatus>> {
    const ids = [...new Set(jobIds.map(arrayId))];
    const hasArrays = ids.some((id) => id.includes('[]'));
    const res = await runCommand(
      this.#options.commands.qstat,
      ['-f', '-F', 'json', '-x', ...(hasArrays ? ['-t'] : []), ...ids],
      { timeoutMs: this.#options.commandTimeoutSeconds * 1000 },
    );
    this.counts.qstat++;
    const parsed = parseQstatJson(res.stdout, res.stderr);
    if (parsed === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_QSTAT',
        `qstat exited ${res.code} without JSON output: ${res.stderr.trim() || res.stdout.trim().slice(0, 200)}`,
        { retryable: true },
      );
    }
    const out = new Map<string, PbsJobStatus>();
    for (const id of jobIds) {
      const record = parsed.jobs.get(jobKey(id));
      if (record !== undefined) {
        out.set(id, pbsJobStatus(record));
        continue;
      }
      const parent = id === arrayId(id) ? undefined : parsed.jobs.get(jobKey(arrayId(id)));
      // An array PBS has not expanded into subjobs yet: the subjob is still queued.
      if (parent !== undefined && !isFinishedState(parent.job_state)) {
        out.set(id, pbsJobStatus({ id, job_state: 'Q' }));
      }
    }
    return out;
  }

  async cancel(jobIds: readonly string[]): Promise<void> {
    const res = await runCommand(this.#options.commands.qdel, jobIds, {
      timeoutMs: this.#options.commandTimeoutSeconds * 1000,
    });
    this.counts.qdel++;
    const problems = res.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/has finished|unknown job id|invalid for state/i.test(l));
    if (res.code !== 0 && problems.length > 0) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_QDEL_FAILED',
        `qdel ${jobIds.join(' ')} failed (exit ${res.code}): ${problems.join('; ')}`,
        { retryable: true, details: { ids: jobIds, stderr: res.stderr } },
      );
    }
  }

  /**
   * One `pbsnodes -a -F json`: a started job on a node that is down (or state-unknown, stale,
   * unresolvable), or a queued job while no node can start jobs, is stalled (see `pbsStalls`).
   */
  async stalls(jobs: ReadonlyMap<string, PbsJobStatus>): Promise<ReadonlyMap<string, string>> {
    const res = await runCommand(this.#options.commands.pbsnodes, ['-a', '-F', 'json'], {
      timeoutMs: this.#options.commandTimeoutSeconds * 1000,
    });
    this.counts.pbsnodes++;
    const nodes = res.code === 0 ? parsePbsnodesJson(res.stdout) : undefined;
    if (nodes === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_PBSNODES',
        `pbsnodes exited ${res.code} without JSON output: ${res.stderr.trim() || res.stdout.trim().slice(0, 200)}`,
        { retryable: true },
      );
    }
    return pbsStalls(jobs, nodes);
  }

  mapState(status: PbsJobStatus): BatchJobState {
    return mapPbsState(status.record);
  }

  #checkResources(nodeId: string, req: ResourceRequirements): void {
    const max = this.#options.maxResources;
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

  async #qsub(script: string, cwd: string, signal: AbortSignal): Promise<string> {
    const { qsub } = this.#options.commands;
    let lastError: PhysError | undefined;
    for (let attempt = 1; attempt <= this.#options.submitAttempts; attempt++) {
      // Closed, or every task of the batch cancelled, while waiting to retry: nothing to submit.
      signal.throwIfAborted();
      if (attempt > 1) {
        await delay(this.#options.submitRetryDelaySeconds * 1000 * 2 ** (attempt - 2), undefined, {
          signal,
        }).catch(() => {
          throw signal.reason;
        });
      }
      try {
        const res = await runCommand(qsub, [script], {
          timeoutMs: this.#options.commandTimeoutSeconds * 1000,
          cwd,
        });
        this.counts.qsub++;
        const line = res.stdout.trim().split('\n').at(-1)?.trim() ?? '';
        if (res.code === 0 && /^\d+(\[\])?(\.\S+)?$/.test(line)) return line;
        const stderr = res.stderr.trim();
        if (res.code === 0 || PERMANENT.test(stderr)) {
          throw new JobFailureError('SUBMIT_FAILED', {
            scheduler: this.name,
            nativeState: res.code === 0 ? 'qsub printed no job id' : `qsub exit ${res.code}`,
            note: `${res.code === 0 ? `qsub ${script} printed ${JSON.stringify(res.stdout.trim())}` : `qsub ${script}: ${stderr || '(no message)'}`}`,
          });
        }
        lastError = new SchedulerError(
          'PHYS_SCHEDULER_PBS_UNAVAILABLE',
          `qsub ${script} failed (exit ${res.code}): ${stderr || '(no message)'} [attempt ${attempt} of ${this.#options.submitAttempts}]. The PBS server was unreachable or busy; try again later.`,
          { retryable: true, details: { script, exitCode: res.code, stderr } },
        );
      } catch (error) {
        if (error instanceof JobFailureError) throw error;
        lastError = PhysError.is(error)
          ? error
          : new SchedulerError('PHYS_SCHEDULER_PBS_UNAVAILABLE', String(error), {
              cause: error,
              retryable: true,
            });
        if (!lastError.retryable) break;
      }
      this.#logger.warn(lastError.message);
    }
    throw lastError as PhysError;
  }
}

/** The id qstat and afterok know a job by: a subjob's array (`124[3].s` → `124[].s`). */
function arrayId(id: string): string {
  return id.replace(/\[\d+\]/, '[]');
}

/** `-l walltime`: the node's timeout, else its wall time. */
function walltimeOf(task: SchedulerTask, req: ResourceRequirements): number | undefined {
  return task.timeoutSeconds ?? req.wallTimeSeconds;
}

// Submission in BatchQueueScheduler: ready tasks of one run and stage with equal resources are
// collected for the batch window and go out in one submission (a job array) of at most
// `maxBatchSize` tasks, one submission at a time, as task envelopes under the work directory.
import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  GrantedResources,
  JobHandle,
  ResourceRequirements,
  SchedulerTask,
  TaskOutcome,
} from '@phys/core';
import { ExecutionStatus, normalizeResources, PhysError, SchedulerError } from '@phys/core';
import type { BatchJobRecord, BatchTask } from './batch-queue-backend.js';
import {
  abortReason,
  type Batch,
  forTask,
  type Group,
  type Job,
  type Pending,
  type QueueContext,
} from './batch-queue-job.js';
import type { BatchSubmitOptions } from './batch-queue-scheduler.js';
import type { Cancellations } from './cancellations.js';
import { jobGrant, taskEnvelopeInit, writeTaskEnvelope } from './envelope.js';
import { ensurePrivateDir, safeFileName } from './job-files.js';
import { deferred } from './job-table.js';

const WRITE_CONCURRENCY = 16;

/** Options of {@link Submissions}. */
export interface SubmissionsOptions {
  readonly configFile: string;
  readonly workDir: string;
  readonly command: () => readonly string[];
  readonly windowMs: number;
  readonly maxBatch: number;
  readonly privateWorkDir: boolean;
  /** Called after each accepted submission: poll soon. */
  readonly onSubmitted: () => void;
  /** The error of a task submitted (or still waiting) once the scheduler closed. */
  readonly closedError: () => SchedulerError;
}

/** The submissions of one BatchQueueScheduler. */
export class Submissions<TRecord extends BatchJobRecord> {
  readonly #ctx: QueueContext<TRecord>;
  readonly #cancellations: Cancellations<TRecord>;
  readonly #configFile: string;
  readonly #workDir: string;
  readonly #command: () => readonly string[];
  #commandCache: readonly string[] | undefined;
  readonly #windowMs: number;
  readonly #maxBatch: number;
  readonly #privateWorkDir: boolean;
  readonly #onSubmitted: () => void;
  readonly #closedError: () => SchedulerError;
  #workDirReady: Promise<void> | undefined;
  readonly #groups = new Map<string, Group>();
  #flushScheduled: (() => void) | undefined;
  #flushing: Promise<void> = Promise.resolve();
  /** Submissions in flight, aborted when the scheduler closes. */
  readonly #submitting = new Set<AbortController>();
  #closed = false;
  #batchSeq = 0;
  /** Run directories made so far, removed when empty at close. */
  readonly runDirs = new Set<string>();
  /** Tasks, submissions and arrays so far. */
  readonly stats = { tasks: 0, submissions: 0, arrays: 0 };

  constructor(
    ctx: QueueContext<TRecord>,
    cancellations: Cancellations<TRecord>,
    options: SubmissionsOptions,
  ) {
    this.#ctx = ctx;
    this.#cancellations = cancellations;
    this.#configFile = options.configFile;
    this.#workDir = options.workDir;
    this.#command = options.command;
    this.#windowMs = options.windowMs;
    this.#maxBatch = options.maxBatch;
    this.#privateWorkDir = options.privateWorkDir;
    this.#onSubmitted = options.onSubmitted;
    this.#closedError = options.closedError;
  }

  /**
   * Queues a task for the next submission and resolves with its handle once the batch system
   * accepted it. Rejects at once what can never run.
   */
  submit(task: SchedulerTask, options: BatchSubmitOptions = {}): Promise<JobHandle> {
    let req: ResourceRequirements;
    let key: string;
    let afterOk: string[];
    try {
      req = normalizeResources(task.resources);
      key = this.#ctx.backend.batchKey(task, req);
      afterOk = (options.afterOk ?? []).map((h) => this.#ctx.jobs.get(h).handle.jobId);
      if (afterOk.length > 0 && !this.#ctx.backend.capabilities.dependencies) {
        throw new SchedulerError(
          `${this.#ctx.prefix}_DEPENDENCIES`,
          `The ${this.#ctx.label} cannot make a job wait for others (afterOk); submit node '${task.nodeId}' once its dependencies ended.`,
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

  /** Submits one chunk of a group: envelopes, one backend call, then the jobs are tracked. */
  async #submitBatch(group: Group, chunk: readonly Pending[]): Promise<void> {
    if (this.#closed) throw this.#closedError();
    this.#commandCache ??= this.#command();
    if (this.#privateWorkDir) await this.#ensureWorkDir();
    const runDir = join(this.#workDir, safeFileName(group.runId));
    await mkdir(runDir, { recursive: true });
    this.runDirs.add(runDir);
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
        logFile: join(dir, String(i), this.#ctx.backend.logFileName),
      }));
      const abort = new AbortController();
      this.#submitting.add(abort);
      const unlisten = abortWhenAllAborted(pending, abort);
      let ids: readonly string[];
      try {
        ids = await this.#ctx.backend.submit({
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
          `The ${this.#ctx.backend.name} backend returned ${ids.length} job id(s) for ${tasks.length} task(s); it must return one per task.`,
        );
      }
      this.stats.submissions++;
      this.stats.tasks += tasks.length;
      if (tasks.length > 1) this.stats.arrays++;
      this.#ctx.logger.debug(
        `submitted ${tasks.length} task(s) of ${group.stage.name} to ${this.#ctx.backend.name}: ${ids[0]}${ids.length > 1 ? ` … ${ids.at(-1)}` : ''}`,
      );
      const batch: Batch = { dir, size: tasks.length, succeeded: 0 };
      for (const [i, p] of pending.entries()) {
        this.#track(p, ids[i] as string, batch, tasks[i] as BatchTask);
      }
    } catch (error) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
    this.#onSubmitted();
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
          taskEnvelopeInit(p.task, this.#configFile, this.grant(p.req)),
          p.task.input,
        );
      } catch (error) {
        failed.add(i);
        p.reject(
          PhysError.is(error) && error.code.startsWith('PHYS_STATE')
            ? error
            : new SchedulerError(
                `${this.#ctx.prefix}_WORKDIR`,
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

  /** Checks the default work directory once; a failed check is made again at the next submission. */
  #ensureWorkDir(): Promise<void> {
    this.#workDirReady ??= ensurePrivateDir(this.#workDir, {
      elsewhere: 'set `workDir` to a directory of your own',
    }).catch((error: unknown) => {
      this.#workDirReady = undefined;
      throw error;
    });
    return this.#workDirReady;
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

  /** What a job of this request is granted. */
  grant(req: ResourceRequirements): GrantedResources {
    return this.#ctx.backend.grant?.(req) ?? jobGrant(req);
  }

  #track(p: Pending, jobId: string, batch: Batch, t: BatchTask): void {
    const { task } = p;
    const handle: JobHandle = Object.freeze({ jobId, nodeId: task.nodeId, attempt: task.attempt });
    const { promise: outcome, resolve } = deferred<TaskOutcome>();
    const signal = task.signal;
    const onAbort = (): void => {
      this.#cancellations
        .request(job, signal?.reason, true)
        .catch((error: unknown) =>
          this.#ctx.logger.warn(
            `Cancelling ${this.#ctx.backend.name} job ${jobId} failed: ${String(error)}`,
          ),
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
      granted: this.grant(p.req),
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
    this.#ctx.jobs.add(handle, job);
    this.#ctx.active.add(job);
    p.resolve(handle);
    if (signal?.aborted === true) onAbort();
  }

  /**
   * Stops submitting: tasks still waiting are rejected with the scheduler's closed error, a
   * submission waiting to retry (a busy controller) stops waiting, and the one under way ends.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#flushScheduled?.();
    this.#flushScheduled = undefined;
    const closed = this.#closedError();
    for (const group of this.#groups.values()) for (const p of group.tasks) p.reject(closed);
    this.#groups.clear();
    for (const abort of this.#submitting) abort.abort(closed);
    await this.#flushing;
  }

  /** Removes the run directories left empty (those whose tasks all succeeded). */
  async removeEmptyRunDirs(): Promise<void> {
    for (const dir of this.runDirs) await rmdir(dir).catch(() => undefined);
  }
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

// How BatchQueueScheduler learns and reports how a job ended: its result file decides success,
// the batch system's state explains endings that left none (a lookup of finished jobs when the
// queue no longer lists them), and each job settles once, with the error a user can act on.
import { rm } from 'node:fs/promises';
import type { JobFailureReason, TaskOutcome } from '@phys/core';
import {
  CancelledError,
  ExecutionStatus,
  JobFailureError,
  PhysError,
  serializeError,
  TimeoutError,
} from '@phys/core';
import type { BatchJobRecord } from './batch-queue-backend.js';
import { type Job, merged, type QueueContext, readResult } from './batch-queue-job.js';
import type { ReadResult } from './envelope.js';
import { exitHint, jobEnding, reasonOf, tailText } from './job-ending.js';
import { logTail } from './job-files.js';
import { resultOutcome } from './result-outcome.js';

type Ending = 'settled' | 'lookup' | 'pending';

/** Polls a job must be missing (without a result) before it is declared lost. */
const LOST_AFTER_POLLS = 3;
/** Jobs one poll looks up at most; the rest wait for the next poll. */
const MAX_LOOKUP = 5000;

/** Options of {@link JobOutcomes}, in seconds. */
export interface JobOutcomesOptions {
  readonly resultTimeoutSeconds: number;
  readonly lostAfterSeconds: number;
  readonly keepWorkDirs: boolean;
}

/** Settles the jobs of one BatchQueueScheduler. */
export class JobOutcomes<TRecord extends BatchJobRecord> {
  readonly #ctx: QueueContext<TRecord>;
  readonly #resultTimeout: number;
  readonly #lostAfter: number;
  readonly #keepWorkDirs: boolean;

  constructor(ctx: QueueContext<TRecord>, options: JobOutcomesOptions) {
    this.#ctx = ctx;
    this.#resultTimeout = options.resultTimeoutSeconds;
    this.#lostAfter = options.lostAfterSeconds;
    this.#keepWorkDirs = options.keepWorkDirs;
  }

  /**
   * Settles jobs the query reports ended (or no longer lists). Their result file decides
   * success; the batch system's state explains endings that left none. True when any settled.
   */
  async collect(
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
    if (lookup.length === 0 || this.#ctx.backend.lookup === undefined) return settled;
    let details: ReadonlyMap<string, TRecord>;
    try {
      details = await this.#ctx.backend.lookup(lookup.map(({ job }) => job.handle.jobId));
    } catch (error) {
      this.#ctx.logger.debug(`${this.#ctx.backend.name} lookup failed: ${String(error)}`);
      details = new Map();
    }
    for (const { job, record } of lookup) {
      job.lookedUp = true;
      const found = details.get(job.handle.jobId);
      if (found !== undefined && !this.#ctx.backend.mapState(found).terminal) continue;
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
      current ??
      (last !== undefined && this.#ctx.backend.mapState(last).terminal ? last : undefined);
    const ending = jobEnding({
      result: result?.envelope.status,
      cancelRequested: job.cancelRequested,
      record,
      state: record === undefined ? undefined : this.#ctx.backend.mapState(record),
      mayLookUp:
        canLookUp &&
        this.#ctx.backend.lookup !== undefined &&
        (record === undefined || !job.lookedUp),
    });
    const where = `Node '${job.handle.nodeId}' (${this.#ctx.backend.name} job ${job.handle.jobId})`;
    const native = `${record?.nativeState}${reasonOf(record) === undefined ? '' : `, ${reasonOf(record)}`}`;
    switch (ending.kind) {
      case 'lookup':
        return 'lookup';
      case 'missing':
        return this.#missing(job) ? 'settled' : 'pending';
      case 'completed':
        await this.settleCompleted(job, result as ReadResult);
        return 'settled';
      case 'result':
        // The task itself failed, was cancelled or timed out, and said so in its result.
        this.ran(job);
        this.settle(job, resultOutcome(result as ReadResult, job.granted));
        return 'settled';
      case 'cancelled':
        this.settleCancelled(job, record);
        return 'settled';
      case 'timeout': {
        const wall = job.req.wallTimeSeconds;
        const tail = await logTail(job.logFile);
        const message = `${where} hit its time limit${wall === undefined ? '' : ` (wall time ${wall} s)`} and was stopped by ${this.#ctx.backend.name} (${native}). Ask for more wallTime.`;
        this.settleError(
          job,
          ExecutionStatus.TIMEOUT,
          new TimeoutError(`${message}\n${tailText(job.dir, job.logFile, tail)}`, {
            details: { ...this.details(job), logTail: tail },
          }),
        );
        return 'settled';
      }
      case 'cancelled-outside': {
        const tail = await logTail(job.logFile);
        const message = `${where} was cancelled outside this run (${native}): by a user or an administrator, or for a dependency that can never be met.`;
        this.settleError(
          job,
          ExecutionStatus.CANCELLED,
          new CancelledError(`${message}\n${tailText(job.dir, job.logFile, tail)}`, {
            details: { ...this.details(job), logTail: tail },
          }),
        );
        return 'settled';
      }
      case 'failure':
        await this.settleFailureWithTail(job, ending.reason, record, exitHint(record));
        return 'settled';
      case 'await-result': {
        // The job says it wrote a result; a shared filesystem may show it late.
        const now = performance.now();
        job.awaitingResultSince ??= now;
        if ((now - job.awaitingResultSince) / 1000 < this.#resultTimeout) return 'pending';
        const words = `No result appeared in ${job.dir} within ${this.#resultTimeout} s.`;
        await this.settleFailureWithTail(job, 'NO_RESULT', record, words);
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
    this.settleFailure(
      job,
      'LOST',
      undefined,
      `It was last seen ${job.record?.nativeState ?? 'after submission'}; it left nothing in ${job.dir}.`,
    );
    return true;
  }

  /**
   * The job runs, or ran: a poll saw it running, or it wrote a result before any poll did. Its
   * task hears of it once (`SchedulerTask.onRunning`).
   */
  ran(job: Job<TRecord>): void {
    if (job.status !== ExecutionStatus.QUEUED) return;
    job.status = ExecutionStatus.RUNNING;
    try {
      job.task.onRunning?.();
    } catch (error) {
      this.#ctx.logger.warn(`onRunning of node '${job.handle.nodeId}' failed: ${String(error)}`);
    }
  }

  async settleCompleted(job: Job<TRecord>, result: ReadResult): Promise<void> {
    this.ran(job);
    // The result is in memory: clean up first, so that whoever waits finds the directory gone.
    if (!this.#keepWorkDirs) {
      const batch = job.batch;
      batch.succeeded++;
      await rm(batch.succeeded === batch.size ? batch.dir : job.dir, {
        recursive: true,
        force: true,
      }).catch(() => undefined);
    }
    this.settle(job, resultOutcome(result, job.granted));
  }

  /** Cancelled by us: report why (a node timeout, fail-fast, the user), not just "cancelled". */
  settleCancelled(job: Job<TRecord>, record: TRecord | undefined): void {
    const reason: unknown = job.cancelReason;
    const { jobId, nodeId } = job.handle;
    const error = PhysError.is(reason)
      ? reason
      : new CancelledError(
          `Node '${nodeId}' was cancelled (${this.#ctx.backend.name} job ${jobId}).`,
          {
            ...(reason === undefined ? {} : { cause: reason }),
            details: {
              ...this.details(job),
              ...(record === undefined ? {} : { nativeState: record.nativeState }),
            },
          },
        );
    this.settleError(
      job,
      error.code === 'PHYS_TIMEOUT' ? ExecutionStatus.TIMEOUT : ExecutionStatus.CANCELLED,
      error,
    );
  }

  async settleFailureWithTail(
    job: Job<TRecord>,
    reason: JobFailureReason,
    record: TRecord | undefined,
    words: string,
  ): Promise<void> {
    const tail = await logTail(job.logFile);
    const said = reasonOf(record);
    const note = [
      said === undefined ? '' : `${this.#ctx.backend.name} says: ${said}.`,
      words,
      tailText(job.dir, job.logFile, tail),
    ];
    this.settleFailure(job, reason, record, note.filter((s) => s !== '').join('\n'));
  }

  settleFailure(
    job: Job<TRecord>,
    reason: JobFailureReason,
    record: TRecord | undefined,
    note: string,
  ): void {
    const exitCode = record?.exitCode;
    this.settleError(
      job,
      ExecutionStatus.FAILED,
      new JobFailureError(reason, {
        scheduler: this.#ctx.backend.name,
        nativeState: record?.nativeState ?? job.record?.nativeState ?? 'unknown',
        nodeId: job.handle.nodeId,
        jobId: job.handle.jobId,
        ...(exitCode === undefined ? {} : { exitCode }),
        ...(note === '' ? {} : { note }),
      }),
    );
  }

  details(job: Job<TRecord>): Record<string, unknown> {
    const record = job.record;
    return {
      scheduler: this.#ctx.backend.name,
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

  settleError(job: Job<TRecord>, status: ExecutionStatus, error: PhysError): void {
    this.settle(job, { status, error: serializeError(error), granted: job.granted });
  }

  settle(job: Job<TRecord>, outcome: TaskOutcome): void {
    if (!this.#ctx.jobs.settle(job, outcome)) return;
    this.#ctx.active.delete(job);
    job.unlisten();
  }
}

// Jobs that wait in silence: a state the batch system never moves a job out of by waiting, and
// jobs stalled by their nodes (down, not responding, or none able to start them), reported at
// once and failed with PHYS_JOB_NODE_FAIL after `stuckAfterSeconds`.
import type { JobFailureReason } from '@phys/core';
import { isTerminal } from '@phys/core';
import type { BatchJobRecord } from './batch-queue-backend.js';
import { describeJobs, type Job, push, type QueueContext, readResult } from './batch-queue-job.js';
import { describeRequest, reasonOf } from './job-ending.js';
import type { JobOutcomes } from './job-outcomes.js';
import { resultOutcome } from './result-outcome.js';

/** Watches the live jobs of one BatchQueueScheduler for stalls. */
export class StallWatch<TRecord extends BatchJobRecord> {
  readonly #ctx: QueueContext<TRecord>;
  readonly #outcomes: JobOutcomes<TRecord>;
  /** Seconds a job may stay stalled before it is failed. */
  readonly stuckAfter: number;
  #checkFailed = false;

  constructor(
    ctx: QueueContext<TRecord>,
    outcomes: JobOutcomes<TRecord>,
    stuckAfterSeconds: number,
  ) {
    this.#ctx = ctx;
    this.#outcomes = outcomes;
    this.stuckAfter = stuckAfterSeconds;
  }

  /** A job in a state it never leaves by waiting: cancel it and fail it now. */
  async stuck(job: Job<TRecord>, failure: JobFailureReason): Promise<void> {
    await this.#ctx.backend
      .cancel([job.handle.jobId])
      .catch((error: unknown) =>
        this.#ctx.logger.warn(
          `Cancelling ${this.#ctx.backend.name} job ${job.handle.jobId} failed: ${String(error)}`,
        ),
      );
    const record = job.record;
    this.#outcomes.settleFailure(
      job,
      failure,
      record,
      `${this.#ctx.backend.name} keeps it ${record?.nativeState}${reasonOf(record) === undefined ? '' : ` (${reasonOf(record)})`}; it asked for ${describeRequest(job.req)}. The job was cancelled.`,
    );
  }

  /**
   * Asks the backend which live jobs are stalled by their nodes (see
   * {@link BatchQueueBackend.stalls}); warns about new stalls, says when one is over, settles a
   * stalled job that wrote its result, and fails one stalled for `stuckAfterSeconds` with
   * NODE_FAIL. True when anything changed.
   */
  async check(asked: readonly Job<TRecord>[]): Promise<boolean> {
    if (this.#ctx.backend.stalls === undefined) return false;
    const jobs = asked.filter(
      (j) => !isTerminal(j.status) && !j.cancelRequested && j.record !== undefined,
    );
    if (jobs.length === 0) return false;
    let found: ReadonlyMap<string, string>;
    try {
      found = await this.#ctx.backend.stalls(
        new Map(jobs.map((j) => [j.handle.jobId, j.record as TRecord])),
      );
      this.#checkFailed = false;
    } catch (error) {
      // Once per outage: the status check itself still works, so the run goes on.
      if (!this.#checkFailed) {
        this.#ctx.logger.warn(
          `${this.#ctx.backend.name}: checking the nodes of running jobs failed (${error instanceof Error ? error.message : String(error)}); jobs on a failed node may go unnoticed until it works again`,
        );
      }
      this.#checkFailed = true;
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
    const name = this.#ctx.backend.name;
    for (const [problem, group] of started) {
      const many = group.length > 1;
      this.#ctx.logger.warn(
        `${name}: ${problem}; ${many ? `${group.length} jobs wait` : 'a job waits'} on it: ${describeJobs(group)}. Unless that changes within ${this.stuckAfter} s (stuckAfterSeconds), ${many ? 'they fail' : 'it fails'} with PHYS_JOB_NODE_FAIL, which the retry policy may retry.`,
      );
    }
    for (const [problem, group] of over) {
      this.#ctx.logger.info(
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
        this.#outcomes.ran(job);
        if (result.envelope.status === 'COMPLETED')
          await this.#outcomes.settleCompleted(job, result);
        else this.#outcomes.settle(job, resultOutcome(result, job.granted));
      } else if ((now - (job.stalledSince as number)) / 1000 >= this.stuckAfter) {
        overdue.push(job);
      }
    }
    if (overdue.length > 0) await this.#failStalled(overdue, now);
    return true;
  }

  /** Cancels jobs stalled for `stuckAfterSeconds` (one call) and fails them with NODE_FAIL. */
  async #failStalled(jobs: readonly Job<TRecord>[], now: number): Promise<void> {
    const name = this.#ctx.backend.name;
    await this.#ctx.backend
      .cancel(jobs.map((j) => j.handle.jobId))
      .catch((error: unknown) =>
        this.#ctx.logger.warn(
          `Cancelling the stalled ${name} job(s) ${describeJobs(jobs)} failed (${error instanceof Error ? error.message : String(error)}); they may still be queued or running.`,
        ),
      );
    for (const job of jobs) {
      if (isTerminal(job.status)) continue;
      const seconds = Math.round((now - (job.stalledSince as number)) / 1000);
      await this.#outcomes.settleFailureWithTail(
        job,
        'NODE_FAIL',
        job.record,
        `${name}: ${job.stall} (for ${seconds} s; stuckAfterSeconds is ${this.stuckAfter}). The job was cancelled.`,
      );
    }
  }
}

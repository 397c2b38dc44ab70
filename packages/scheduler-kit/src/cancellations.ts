// Cancelling jobs of a BatchQueueScheduler: cancellations of one moment share one backend call;
// a cancel asked for from outside never waits for the batch system to agree, and a job it still
// lists a few seconds after accepting one is reported cancelled without waiting any longer.
import { isTerminal } from '@phys/core';
import type { BatchJobRecord } from './batch-queue-backend.js';
import { describeJobs, type Job, type QueueContext } from './batch-queue-job.js';
import type { JobOutcomes } from './job-outcomes.js';

/**
 * Once the batch system accepted a cancel, the job normally ends by the next poll. One it still
 * lists after this long (its node does not answer, so it stays COMPLETING) is reported cancelled
 * without waiting any longer: a cancelled run ends within seconds whatever the cluster does.
 */
const CANCEL_SETTLE_MS = 3000;

/** Options of {@link Cancellations}. */
export interface CancellationsOptions {
  /** Seconds before a timeout's cancel that the batch system refused is tried again. */
  readonly retryDelaySeconds: number;
  /** Called once the batch system accepted a cancel: poll soon to see the jobs end. */
  readonly onAccepted: () => void;
}

/** The cancellations of one BatchQueueScheduler. */
export class Cancellations<TRecord extends BatchJobRecord> {
  readonly #ctx: QueueContext<TRecord>;
  readonly #outcomes: JobOutcomes<TRecord>;
  readonly #retryDelaySeconds: number;
  readonly #onAccepted: () => void;
  #batch: { readonly jobs: Set<Job<TRecord>>; readonly done: Promise<void> } | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    ctx: QueueContext<TRecord>,
    outcomes: JobOutcomes<TRecord>,
    options: CancellationsOptions,
  ) {
    this.#ctx = ctx;
    this.#outcomes = outcomes;
    this.#retryDelaySeconds = options.retryDelaySeconds;
    this.#onAccepted = options.onAccepted;
  }

  /**
   * Asks the batch system to cancel `job` (with the next ones of this moment); `fromOutside`
   * when the run or the user asked, not a timeout of our own. No-op once it ended.
   */
  request(job: Job<TRecord>, reason: unknown, fromOutside: boolean): Promise<void> {
    if (isTerminal(job.status)) return Promise.resolve();
    job.cancelReason ??= reason;
    if (fromOutside) job.cancelFromOutside = true;
    if (job.cancelling !== undefined) return job.cancelling;
    job.cancelRequested = true;
    let batch = this.#batch;
    if (batch === undefined) {
      // Cancellations of one moment (fail-fast cancels every running node) share one call.
      const jobs = new Set<Job<TRecord>>();
      const done = new Promise<void>((r) => setImmediate(r)).then(() => this.#cancelNow(jobs));
      batch = { jobs, done };
      this.#batch = batch;
    }
    batch.jobs.add(job);
    job.cancelling = batch.done;
    return batch.done;
  }

  async #cancelNow(jobs: ReadonlySet<Job<TRecord>>): Promise<void> {
    this.#batch = undefined;
    const live = [...jobs].filter((j) => !isTerminal(j.status));
    if (live.length === 0) return;
    try {
      await this.#ctx.backend.cancel(live.map((j) => j.handle.jobId));
    } catch (error) {
      // A cancel asked for from outside (the run is being cancelled) does not wait for the
      // batch system to agree: the job is reported cancelled, and the user told what may
      // still run. A timeout of our own is retried at the next poll (not at once: the batch
      // system just refused); until then a later ending is the job's own.
      const outside = live.filter((j) => j.cancelFromOutside);
      const retryAt = performance.now() + this.#retryDelaySeconds * 1000;
      for (const job of live) {
        if (job.cancelFromOutside) continue;
        job.cancelRequested = false;
        job.cancelReason = undefined;
        job.cancelling = undefined;
        if (job.deadline !== undefined) job.deadline = Math.max(job.deadline, retryAt);
      }
      if (outside.length === 0) throw error;
      const why = error instanceof Error ? error.message : String(error);
      this.#ctx.logger.warn(
        `Cancelling ${this.#ctx.backend.name} job(s) ${describeJobs(outside)} failed (${why}). They are reported cancelled, but may still be queued or running: cancel them with ${this.#ctx.backend.name}'s own command.`,
      );
      for (const job of outside) this.#outcomes.settleCancelled(job, job.record);
      return;
    }
    // Accepted. The next poll normally sees the jobs end; those the batch system still lists
    // a few seconds later (a node that does not answer keeps them COMPLETING) are reported
    // cancelled without waiting for it.
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      for (const job of live) {
        if (isTerminal(job.status)) continue;
        this.#ctx.logger.debug(
          `${this.#ctx.backend.name} still lists job ${job.handle.jobId} as ${job.record?.nativeState ?? 'queued'} ${CANCEL_SETTLE_MS / 1000} s after it accepted the cancel; it is reported cancelled`,
        );
        this.#outcomes.settleCancelled(job, job.record);
      }
    }, CANCEL_SETTLE_MS);
    // The poll timer keeps the process alive while the jobs are active; this one need not.
    timer.unref();
    this.#timers.add(timer);
    this.#onAccepted();
  }

  /** Stops the timers that settle jobs a cancel was accepted for (the scheduler closes). */
  clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

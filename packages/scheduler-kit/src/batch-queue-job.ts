// What BatchQueueScheduler's parts share: a job as it is tracked from submission to outcome, the
// state they work on together, and small helpers. Internal to the package.
import type {
  GrantedResources,
  JobHandle,
  Logger,
  ResourceRequirements,
  SchedulerTask,
  StageRef,
} from '@phys/core';
import { CancelledError, JobFailureError, PhysError } from '@phys/core';
import type { BatchJobRecord, BatchQueueBackend } from './batch-queue-backend.js';
import { type ReadResult, readResultEnvelope } from './envelope.js';
import type { JobTable, TrackedJob } from './job-table.js';

/** A task waiting for its submission. */
export interface Pending {
  readonly task: SchedulerTask;
  readonly req: ResourceRequirements;
  readonly resolve: (handle: JobHandle) => void;
  readonly reject: (error: unknown) => void;
}

/** Tasks of one run and stage with equal resources and dependencies: one submission. */
export interface Group {
  readonly runId: string;
  readonly stage: StageRef;
  readonly afterOk: readonly string[];
  readonly tasks: Pending[];
}

/** The directory of one submission, removed once all of its tasks succeeded. */
export interface Batch {
  readonly dir: string;
  readonly size: number;
  succeeded: number;
}

/** A submitted task, from its job id to its outcome. */
export interface Job<TRecord> extends TrackedJob {
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

/** What the scheduler's parts work on together. */
export interface QueueContext<TRecord extends BatchJobRecord> {
  readonly backend: BatchQueueBackend<TRecord>;
  readonly logger: Logger;
  /** The scheduler's class name, for messages. */
  readonly label: string;
  /** Prefix of the scheduler's own error codes. */
  readonly prefix: string;
  readonly jobs: JobTable<Job<TRecord>>;
  /** Jobs submitted and not settled yet. */
  readonly active: Set<Job<TRecord>>;
}

/** Jobs named in one warning; the rest are counted. */
const NAMED_IN_WARNING = 5;

/** `'a' (job 12), 'b' (job 13) and 4 more`: the DAG nodes of jobs. */
export function describeJobs(jobs: readonly { readonly handle: JobHandle }[]): string {
  const named = jobs
    .slice(0, NAMED_IN_WARNING)
    .map((j) => `'${j.handle.nodeId}' (job ${j.handle.jobId})`);
  const more = jobs.length - named.length;
  return more > 0 ? `${named.join(', ')} and ${more} more` : named.join(', ');
}

export function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

export function abortReason(task: SchedulerTask): PhysError {
  const reason: unknown = task.signal?.reason;
  return PhysError.is(reason)
    ? reason
    : new CancelledError(`Node '${task.nodeId}' was cancelled before it was submitted.`, {
        ...(reason === undefined ? {} : { cause: reason }),
      });
}

/** A submission's failure as the error of one of its tasks: a job failure names the task's node. */
export function forTask(error: unknown, task: SchedulerTask): unknown {
  if (!(error instanceof JobFailureError) || error.failure.nodeId !== undefined) return error;
  return new JobFailureError(
    error.reason,
    { ...error.failure, nodeId: task.nodeId },
    error.cause === undefined ? {} : { cause: error.cause },
  );
}

/** A job's new record, keeping the exit code and signal an earlier one (a lookup) had learnt. */
export function merged<TRecord extends BatchJobRecord>(
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

/** The job's result envelope, or undefined while there is none (or it cannot be read). */
export async function readResult(job: Job<unknown>): Promise<ReadResult | undefined> {
  try {
    return await readResultEnvelope(job.envelopeFile);
  } catch {
    return undefined;
  }
}

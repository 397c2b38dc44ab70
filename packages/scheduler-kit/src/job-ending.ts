import {
  ExecutionStatus,
  type JobFailureReason,
  type ResourceRequirements,
  TASK_EXIT_CODES,
} from '@phys/core';
import type { BatchJobRecord, BatchJobState } from './batch-queue-backend.js';
import type { ResultEnvelope } from './envelope.js';

/** Exit codes of a task process that come with a result file. */
const EXIT_CODES_WITH_RESULT: ReadonlySet<number> = new Set([
  TASK_EXIT_CODES.COMPLETED,
  TASK_EXIT_CODES.FAILED,
  TASK_EXIT_CODES.CANCELLED,
  TASK_EXIT_CODES.TIMEOUT,
]);

/** What is known of a job that ended or vanished, when its outcome is decided. */
export interface EndingFacts {
  /** The status its result file reports; undefined when there is none (yet). */
  readonly result: ResultEnvelope['status'] | undefined;
  /** This scheduler asked the batch system to cancel it. */
  readonly cancelRequested: boolean;
  /** Its latest record; undefined when the batch system no longer lists it. */
  readonly record: BatchJobRecord | undefined;
  /** The backend's reading of `record`. */
  readonly state: BatchJobState | undefined;
  /** The backend can look the job up, and has not yet for this ending. */
  readonly mayLookUp: boolean;
}

/** How a job's end reads; see {@link jobEnding}. */
export type JobEnding =
  | { readonly kind: 'completed' }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'cancelled-outside' }
  | { readonly kind: 'failure'; readonly reason: JobFailureReason }
  | { readonly kind: 'result' }
  | { readonly kind: 'lookup' }
  | { readonly kind: 'await-result' }
  | { readonly kind: 'missing' };

/**
 * The one place that turns a job's end into an outcome, in this order: a COMPLETED result wins;
 * a cancel this scheduler asked for reports its own reason; a vanished job is read from its
 * result, else looked up, else is missing (LOST after a few polls); the batch system's TIMEOUT
 * and CANCELLED, and a state's failure reason, beat the task's own result (which only says it
 * got SIGTERM); then the task's result; then the exit code: one that promises a result waits for
 * the file (NO_RESULT when it never shows), any other is an EXIT failure.
 */
export function jobEnding(facts: EndingFacts): JobEnding {
  const { result, record, state } = facts;
  if (result === 'COMPLETED') return { kind: 'completed' };
  if (facts.cancelRequested) return { kind: 'cancelled' };
  if (record === undefined || state === undefined) {
    if (result !== undefined) return { kind: 'result' };
    return { kind: facts.mayLookUp ? 'lookup' : 'missing' };
  }
  if (state.status === ExecutionStatus.TIMEOUT) return { kind: 'timeout' };
  if (state.status === ExecutionStatus.CANCELLED) return { kind: 'cancelled-outside' };
  if (state.failure !== undefined) return { kind: 'failure', reason: state.failure };
  if (result !== undefined) return { kind: 'result' };
  if (record.exitCode === undefined && record.signal === undefined && facts.mayLookUp) {
    return { kind: 'lookup' };
  }
  const promisesResult =
    state.status === ExecutionStatus.COMPLETED ||
    (record.exitCode !== undefined &&
      !hasSignal(record) &&
      EXIT_CODES_WITH_RESULT.has(record.exitCode));
  return promisesResult ? { kind: 'await-result' } : { kind: 'failure', reason: 'EXIT' };
}

/** True when the record names a signal that ended the job. */
export function hasSignal(record: BatchJobRecord): boolean {
  return record.signal !== undefined && record.signal !== 0 && record.signal !== '0';
}

/** The scheduler's own words about the job, when it has any worth quoting. */
export function reasonOf(record: BatchJobRecord | undefined): string | undefined {
  const reason = record?.reason;
  return reason === undefined || reason === '' || reason === 'None' ? undefined : reason;
}

/** A line that explains an exit without a result: a signal, a missing command, a killed child. */
export function exitHint(record: BatchJobRecord | undefined): string {
  if (record === undefined) return '';
  if (hasSignal(record)) return `The job was killed by signal ${record.signal}.`;
  const code = record.exitCode;
  if (code === 127)
    return 'Exit code 127: a command was not found (check the job setup and the task command).';
  if (code !== undefined && code > 128 && code < 160) {
    return `Exit code ${code} = 128 + ${code - 128}: a process of the job was killed by a signal.`;
  }
  return '';
}

/** Where to look: the last lines of the job's log, or the directory that holds it. */
export function tailText(dir: string, logFile: string, tail: string): string {
  return tail === ''
    ? `The task envelope and the job's log are in ${dir}.`
    : `Last lines of the job's output (${logFile}):\n${tail}`;
}

/** A request in words: `cpu 2, gpu 1, memory 512 MiB`. */
export function describeRequest(req: ResourceRequirements): string {
  const parts = [`cpu ${req.cpu}`];
  if (req.gpu > 0) parts.push(`gpu ${req.gpu}`);
  if (req.mpiRanks > 1) parts.push(`mpiRanks ${req.mpiRanks}`);
  if (req.memoryBytes !== undefined)
    parts.push(`memory ${Math.ceil(req.memoryBytes / 2 ** 20)} MiB`);
  if (req.wallTimeSeconds !== undefined) parts.push(`wall time ${req.wallTimeSeconds} s`);
  return parts.join(', ');
}

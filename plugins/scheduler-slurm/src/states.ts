import { ExecutionStatus } from '@phys/core';

/** Error codes of this plugin (node errors and thrown errors). @public */
export const SLURM_ERROR_CODES = Object.freeze({
  /** sbatch rejected the job (invalid partition, impossible request, ...) or kept failing transiently. */
  SUBMIT_FAILED: 'PHYS_SCHEDULER_SLURM_SUBMIT_FAILED',
  /** The job ended FAILED (or SPECIAL_EXIT) without a result of its own; the exit code is in the message. */
  JOB_FAILED: 'PHYS_SCHEDULER_SLURM_JOB_FAILED',
  /** OUT_OF_MEMORY: the job went over its `--mem`. Ask for more memory. */
  OOM: 'PHYS_SCHEDULER_SLURM_OOM',
  /** NODE_FAIL, BOOT_FAIL, LAUNCH_FAILED: the machine failed, not the task. Retryable. */
  NODE_FAIL: 'PHYS_SCHEDULER_SLURM_NODE_FAIL',
  /** PREEMPTED (or REVOKED): a higher-priority job took the node. Retryable. */
  PREEMPTED: 'PHYS_SCHEDULER_SLURM_PREEMPTED',
  /** TIMEOUT and DEADLINE use the core code, so that executors report the node as TIMEOUT. */
  TIMEOUT: 'PHYS_TIMEOUT',
  /** CANCELLED uses the core code. */
  CANCELLED: 'PHYS_CANCELLED',
  /** The job vanished from Slurm without leaving a result (purged, or the controller lost it). Retryable. */
  LOST: 'PHYS_SCHEDULER_SLURM_LOST',
  /** Slurm says the job completed, but its result file never appeared in the work directory. Retryable. */
  NO_RESULT: 'PHYS_SCHEDULER_SLURM_NO_RESULT',
  /** The job stays PENDING for a reason that no wait fixes (e.g. more cpus than any node has). */
  UNSATISFIABLE: 'PHYS_SCHEDULER_SLURM_UNSATISFIABLE',
  /** A Slurm command is missing, or squeue kept failing for longer than the scheduler waits. */
  UNAVAILABLE: 'PHYS_SCHEDULER_SLURM_UNAVAILABLE',
});

/** How one Slurm job state reads as an `ExecutionStatus` of `@phys/core`. @public */
export interface SlurmStateInfo {
  /** The phys status of a job in this state. */
  readonly status: ExecutionStatus;
  /** True once the job can no longer change. */
  readonly terminal: boolean;
  /** Error code of a job that ended this way without a result of its own. */
  readonly code?: string;
  /** Whether running the same task again can succeed. */
  readonly retryable: boolean;
}

const queued: SlurmStateInfo = {
  status: ExecutionStatus.QUEUED,
  terminal: false,
  retryable: false,
};
const running: SlurmStateInfo = {
  status: ExecutionStatus.RUNNING,
  terminal: false,
  retryable: false,
};
const ended = (status: ExecutionStatus, code?: string, retryable = false): SlurmStateInfo => ({
  status,
  terminal: true,
  ...(code === undefined ? {} : { code }),
  retryable,
});

/**
 * Every job state squeue, scontrol and sacct print (`doc/html/job_state_codes.shtml`), long
 * names and the short codes of `%t`, mapped onto ExecutionStatus.
 * @public
 */
export const SLURM_STATES: Readonly<Record<string, SlurmStateInfo>> = Object.freeze({
  PENDING: queued,
  CONFIGURING: queued,
  POWER_UP_NODE: queued,
  REQUEUED: queued,
  REQUEUE_FED: queued,
  REQUEUE_HOLD: queued,
  RESV_DEL_HOLD: queued,
  RUNNING: running,
  COMPLETING: running,
  SIGNALING: running,
  STAGE_OUT: running,
  RESIZING: running,
  SUSPENDED: running,
  STOPPED: running,
  UPDATE_DB: running,
  EXPEDITING: running,
  COMPLETED: ended(ExecutionStatus.COMPLETED),
  FAILED: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.JOB_FAILED),
  SPECIAL_EXIT: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.JOB_FAILED),
  OUT_OF_MEMORY: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.OOM),
  NODE_FAIL: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.NODE_FAIL, true),
  BOOT_FAIL: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.NODE_FAIL, true),
  LAUNCH_FAILED: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.NODE_FAIL, true),
  RECONFIG_FAIL: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.NODE_FAIL, true),
  PREEMPTED: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.PREEMPTED, true),
  REVOKED: ended(ExecutionStatus.FAILED, SLURM_ERROR_CODES.PREEMPTED, true),
  TIMEOUT: ended(ExecutionStatus.TIMEOUT, SLURM_ERROR_CODES.TIMEOUT, true),
  DEADLINE: ended(ExecutionStatus.TIMEOUT, SLURM_ERROR_CODES.TIMEOUT),
  CANCELLED: ended(ExecutionStatus.CANCELLED, SLURM_ERROR_CODES.CANCELLED),
});

const SHORT_CODES: Readonly<Record<string, string>> = {
  PD: 'PENDING',
  CF: 'CONFIGURING',
  PU: 'POWER_UP_NODE',
  RQ: 'REQUEUED',
  RF: 'REQUEUE_FED',
  RH: 'REQUEUE_HOLD',
  RD: 'RESV_DEL_HOLD',
  R: 'RUNNING',
  CG: 'COMPLETING',
  SI: 'SIGNALING',
  SO: 'STAGE_OUT',
  RS: 'RESIZING',
  S: 'SUSPENDED',
  ST: 'STOPPED',
  CD: 'COMPLETED',
  F: 'FAILED',
  SE: 'SPECIAL_EXIT',
  OOM: 'OUT_OF_MEMORY',
  NF: 'NODE_FAIL',
  BF: 'BOOT_FAIL',
  PR: 'PREEMPTED',
  RV: 'REVOKED',
  TO: 'TIMEOUT',
  DL: 'DEADLINE',
  CA: 'CANCELLED',
};

/**
 * The canonical long name of a state as Slurm prints it: `CANCELLED by 1234` → `CANCELLED`,
 * `CANCELLED+` (sacct's truncation) → `CANCELLED`, `CD` → `COMPLETED`, `RUNNING+COMPLETING`
 * style flag lists → the base state.
 * @public
 */
export function normalizeSlurmState(raw: string): string {
  const word = (raw.trim().split(/\s+/)[0] ?? '').replace(/\+$/, '').toUpperCase();
  const base = word.split('+')[0] ?? word;
  return SHORT_CODES[base] ?? base;
}

/**
 * Maps a Slurm job state (long name, short code or sacct form) onto ExecutionStatus, with the
 * error code of a bad ending. Unknown states (a newer Slurm) read as RUNNING, not terminal, so
 * that the job is watched until it reaches a state this table knows.
 * @public
 */
export function mapSlurmState(raw: string): SlurmStateInfo & { readonly known: boolean } {
  const info = SLURM_STATES[normalizeSlurmState(raw)];
  return info === undefined ? { ...running, known: false } : { ...info, known: true };
}

/**
 * Pending reasons after which a job never starts by waiting (`squeue %r`): more cpus or memory
 * than the partition's nodes have, a constraint no node has, a time limit over the partition's,
 * a dependency that failed, an unknown account or qos.
 * @public
 */
export const UNSATISFIABLE_PENDING_REASONS: ReadonlySet<string> = new Set([
  'BadConstraints',
  'PartitionConfig',
  'PartitionNodeLimit',
  'PartitionTimeLimit',
  'DependencyNeverSatisfied',
  'InvalidAccount',
  'InvalidQOS',
]);

import { ExecutionStatus, type JobFailureReason } from '@phys/core';
import type { BatchJobState } from '@phys/scheduler-kit';

/**
 * Error codes of this plugin, for what is not a job failure. How jobs fail is told in core's
 * shared vocabulary (`JobFailureError`, `PHYS_JOB_*`), with `scheduler: 'slurm'` and the Slurm
 * state as `nativeState`.
 * @public
 */
export const SLURM_ERROR_CODES = Object.freeze({
  /** A Slurm command is missing, or sbatch, squeue or scancel kept failing (controller unreachable or busy). */
  UNAVAILABLE: 'PHYS_SCHEDULER_SLURM_UNAVAILABLE',
});

/** How one Slurm job state reads: its `ExecutionStatus`, whether it is final, and the job failure it means. @public */
export type SlurmStateInfo = BatchJobState;

const queued: SlurmStateInfo = { status: ExecutionStatus.QUEUED, terminal: false };
const running: SlurmStateInfo = { status: ExecutionStatus.RUNNING, terminal: false };
const ended = (status: ExecutionStatus, failure?: JobFailureReason): SlurmStateInfo => ({
  status,
  terminal: true,
  ...(failure === undefined ? {} : { failure }),
});

/**
 * Every job state squeue, scontrol and sacct print (`doc/html/job_state_codes.shtml`), long
 * names and the short codes of `%t`, mapped onto ExecutionStatus and core's job-failure reasons.
 * FAILED and SPECIAL_EXIT carry none: the task's result, else its exit code, says why.
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
  FAILED: ended(ExecutionStatus.FAILED),
  SPECIAL_EXIT: ended(ExecutionStatus.FAILED),
  OUT_OF_MEMORY: ended(ExecutionStatus.FAILED, 'OOM'),
  NODE_FAIL: ended(ExecutionStatus.FAILED, 'NODE_FAIL'),
  BOOT_FAIL: ended(ExecutionStatus.FAILED, 'NODE_FAIL'),
  LAUNCH_FAILED: ended(ExecutionStatus.FAILED, 'NODE_FAIL'),
  RECONFIG_FAIL: ended(ExecutionStatus.FAILED, 'NODE_FAIL'),
  PREEMPTED: ended(ExecutionStatus.FAILED, 'PREEMPTED'),
  REVOKED: ended(ExecutionStatus.FAILED, 'PREEMPTED'),
  TIMEOUT: ended(ExecutionStatus.TIMEOUT),
  DEADLINE: ended(ExecutionStatus.TIMEOUT),
  CANCELLED: ended(ExecutionStatus.CANCELLED),
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
 * job failure of a bad ending. Unknown states (a newer Slurm) read as RUNNING, not terminal, so
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

import { constants } from 'node:os';
import { ExecutionStatus, type JobFailureReason } from '@phys/core';
import type { BatchJobRecord, BatchJobState } from '@phys/scheduler-kit';
import { parsePbsSize, parseWalltime } from './directives.js';
import { isFinishedState, type PbsJobRecord, pbsStateToStatus } from './qstat.js';

/** How phys treats a negative PBS exit status (see {@link PBS_EXIT_CODES}). @public */
export type PbsExitKind = 'node' | 'fatal' | 'limit' | 'oom' | 'timeout';

/**
 * PBS's own negative `Exit_status` values (`src/include/job.h`), what they mean, and how phys
 * treats them: `node` → FAILED `PHYS_JOB_NODE_FAIL` (retryable), `oom` → FAILED `PHYS_JOB_OOM`,
 * `fatal` and `limit` → FAILED `PHYS_JOB_FAILED`, `timeout` → TIMEOUT.
 * @public
 */
export const PBS_EXIT_CODES: Readonly<
  Record<number, { readonly name: string; readonly meaning: string; readonly kind: PbsExitKind }>
> = Object.freeze({
  [-1]: { name: 'JOB_EXEC_FAIL1', meaning: 'the job could not be started', kind: 'node' },
  [-2]: {
    name: 'JOB_EXEC_FAIL2',
    meaning: 'the job could not be started (after staging its files)',
    kind: 'node',
  },
  [-3]: { name: 'JOB_EXEC_RETRY', meaning: 'starting the job failed; PBS retries', kind: 'node' },
  [-4]: { name: 'JOB_EXEC_INITABT', meaning: 'aborted while MOM initialised it', kind: 'node' },
  [-5]: { name: 'JOB_EXEC_INITRST', meaning: 'aborted while MOM initialised it', kind: 'node' },
  [-6]: { name: 'JOB_EXEC_INITRMG', meaning: 'aborted while MOM initialised it', kind: 'node' },
  [-7]: { name: 'JOB_EXEC_BADRESRT', meaning: 'restart from a checkpoint failed', kind: 'node' },
  [-10]: {
    name: 'JOB_EXEC_FAILUID',
    meaning: 'invalid user or group id on the execution host',
    kind: 'fatal',
  },
  [-11]: { name: 'JOB_EXEC_RERUN', meaning: 'the job was rerun', kind: 'node' },
  [-12]: { name: 'JOB_EXEC_CHKP', meaning: 'checkpointed and killed', kind: 'node' },
  [-16]: { name: 'JOB_EXEC_FAILHOOK_RERUN', meaning: 'a hook failed; rerun', kind: 'node' },
  [-17]: {
    name: 'JOB_EXEC_FAILHOOK_DELETE',
    meaning: 'a hook failed and deleted it',
    kind: 'fatal',
  },
  [-18]: { name: 'JOB_EXEC_HOOK_RERUN', meaning: 'a hook requested a rerun', kind: 'node' },
  [-19]: { name: 'JOB_EXEC_HOOK_DELETE', meaning: 'a hook deleted the job', kind: 'fatal' },
  [-20]: {
    name: 'JOB_EXEC_RERUN_MS_FAIL',
    meaning: 'the connection to the mother superior was lost (node failure)',
    kind: 'node',
  },
  [-24]: {
    name: 'JOB_EXEC_KILL_NCPUS_BURST',
    meaning: 'used more cpus than it asked for',
    kind: 'limit',
  },
  [-25]: {
    name: 'JOB_EXEC_KILL_NCPUS_SUM',
    meaning: 'used more cpus than it asked for',
    kind: 'limit',
  },
  [-26]: { name: 'JOB_EXEC_KILL_VMEM', meaning: 'exceeded its vmem limit', kind: 'oom' },
  [-27]: { name: 'JOB_EXEC_KILL_MEM', meaning: 'exceeded its mem limit', kind: 'oom' },
  [-28]: { name: 'JOB_EXEC_KILL_CPUT', meaning: 'exceeded its cput limit', kind: 'timeout' },
  [-29]: { name: 'JOB_EXEC_KILL_WALLTIME', meaning: 'exceeded its walltime', kind: 'timeout' },
  [-30]: {
    name: 'JOB_EXEC_JOINJOB',
    meaning: 'could not join the job on a sister node',
    kind: 'node',
  },
});

/**
 * A `qstat` record as `BatchQueueScheduler` reads it: `nativeState` is the job state letter
 * while the job lives and `Exit_status=<n>` once it finished; `exitCode` is an `Exit_status`
 * of 0–255, `signal` the one of 256 + n (PBS adds 0x100 to WTERMSIG).
 * @public
 */
export interface PbsJobStatus extends BatchJobRecord {
  /** The record as qstat printed it. */
  readonly record: PbsJobRecord;
}

const KIND_FAILURE: Readonly<Record<Exclude<PbsExitKind, 'timeout'>, JobFailureReason>> = {
  node: 'NODE_FAIL',
  oom: 'OOM',
  fatal: 'EXIT',
  limit: 'EXIT',
};

/** The kit's view of a `qstat -f -F json` record (see {@link PbsJobStatus}). @public */
export function pbsJobStatus(record: PbsJobRecord): PbsJobStatus {
  const exit = record.Exit_status;
  const known = exit === undefined ? undefined : PBS_EXIT_CODES[exit];
  const words = [
    ...(known === undefined ? [] : [`${known.name}: ${known.meaning}`]),
    ...(record.comment === undefined ? [] : [record.comment]),
  ];
  return {
    record,
    nativeState: exit === undefined ? record.job_state : `Exit_status=${exit}`,
    ...(exit !== undefined && exit >= 0 && exit < 256 ? { exitCode: exit } : {}),
    ...(exit !== undefined && exit >= 256 ? { signal: signalName(exit - 256) ?? exit - 256 } : {}),
    ...(words.length === 0 ? {} : { reason: words.join('; ') }),
  };
}

/**
 * How a PBS job stands. Live states map by letter (see `pbsStateToStatus`). A finished job
 * (`F`, `X`) is read from `Exit_status`: none means it was deleted before it ran (by qdel, or
 * for a failed `afterok` dependency): CANCELLED; -29 and -28, or a non-zero exit once
 * `resources_used.walltime` reached the limit (or the comment says so), TIMEOUT; other negative
 * values per {@link PBS_EXIT_CODES} (unknown ones as node failures); a SIGKILL (265) over
 * `Resource_List.mem` OOM; 0 COMPLETED and anything else FAILED, for the result file and the
 * exit code to explain.
 * @public
 */
export function mapPbsState(record: PbsJobRecord): BatchJobState {
  if (!isFinishedState(record.job_state)) {
    // Unknown letters change nothing: statuses never move back, so QUEUED is the safe reading.
    return {
      status: pbsStateToStatus(record.job_state) ?? ExecutionStatus.QUEUED,
      terminal: false,
    };
  }
  const exit = record.Exit_status;
  if (exit === undefined) return { status: ExecutionStatus.CANCELLED, terminal: true };
  if (exit === -29 || exit === -28 || (exit !== 0 && walltimeExceeded(record))) {
    return { status: ExecutionStatus.TIMEOUT, terminal: true };
  }
  if (exit < 0) {
    const kind = PBS_EXIT_CODES[exit]?.kind ?? 'node';
    if (kind === 'timeout') return { status: ExecutionStatus.TIMEOUT, terminal: true };
    return { status: ExecutionStatus.FAILED, terminal: true, failure: KIND_FAILURE[kind] };
  }
  if (exit >= 256 && signalName(exit - 256) === 'SIGKILL' && memoryExceeded(record)) {
    return { status: ExecutionStatus.FAILED, terminal: true, failure: 'OOM' };
  }
  return {
    status: exit === 0 ? ExecutionStatus.COMPLETED : ExecutionStatus.FAILED,
    terminal: true,
  };
}

function signalName(n: number): string | undefined {
  for (const [name, value] of Object.entries(constants.signals)) if (value === n) return name;
  return undefined;
}

function walltimeExceeded(record: PbsJobRecord): boolean {
  if (record.comment !== undefined && /walltime\b.*\bexceed/i.test(record.comment)) return true;
  const used = durationOf(record.resources_used?.walltime);
  const limit = durationOf(record.Resource_List?.walltime);
  return used !== undefined && limit !== undefined && used >= limit;
}

function memoryExceeded(record: PbsJobRecord): boolean {
  const used = sizeOf(record.resources_used?.mem);
  const limit = sizeOf(record.Resource_List?.mem);
  return used !== undefined && limit !== undefined && used >= limit;
}

function durationOf(value: string | number | undefined): number | undefined {
  if (typeof value === 'number') return value;
  return value === undefined ? undefined : parseWalltime(value);
}

function sizeOf(value: string | number | undefined): number | undefined {
  if (typeof value === 'number') return value;
  return value === undefined ? undefined : parsePbsSize(value);
}

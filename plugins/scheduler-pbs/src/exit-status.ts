import { constants } from 'node:os';
import { CancelledError, ExecutionStatus, type GrantedResources, type PhysError, SchedulerError, serializeError, type TaskOutcome, TimeoutError } from '@phys/core';
import { type ReadResult, resultOutcome } from '@phys/scheduler-kit';
import { parsePbsSize, parseWalltime } from './directives.js';
import type { PbsJobRecord } from './qstat.js';

/** How phys treats a negative PBS exit status (see {@link PBS_EXIT_CODES}). @public */
export type PbsExitKind = 'node' | 'fatal' | 'limit' | 'oom' | 'timeout';

/**
 * PBS's own negative `Exit_status` values (`src/include/job.h`), what they mean, and how phys
 * treats them: `node` → retryable FAILED (`PHYS_SCHEDULER_PBS_NODE_FAIL`), `fatal` → FAILED
 * (`PHYS_SCHEDULER_PBS_EXEC_FAILED`), `limit` → FAILED (`PHYS_SCHEDULER_PBS_LIMIT`), `oom` →
 * FAILED (`PHYS_SCHEDULER_PBS_OOM`), `timeout` → TIMEOUT.
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

/** What {@link interpretFinishedJob} decides from. @public */
export interface FinishedJob {
  /** The PBS job (or subjob) id. */
  readonly jobId: string;
  /** The DAG node it ran. */
  readonly nodeId: string;
  /** The finished job's qstat record; undefined when PBS no longer knows the job. */
  readonly record: PbsJobRecord | undefined;
  /** The task's result envelope, if the job wrote one. */
  readonly result: ReadResult | undefined;
  /** phys asked for the job to be deleted. */
  readonly cancelRequested: boolean;
  /** The walltime phys requested, in seconds. */
  readonly walltimeSeconds: number | undefined;
  /** The last lines of the job's stderr. */
  readonly stderrTail: string;
  /** The task's work directory (named in error messages). */
  readonly workDir: string;
  /** What the task was granted (copied into the outcome). */
  readonly granted: GrantedResources;
}

/**
 * How a finished PBS job ended, from (in this order) a cancel phys requested, the task's result
 * envelope, the walltime, and `Exit_status`: 0 is success, 1–255 the job script's exit code,
 * 256 + n a kill by signal n (PBS adds 0x100 to WTERMSIG), and negative values PBS's own
 * failures (see {@link PBS_EXIT_CODES}). A job whose walltime ran out is TIMEOUT whether PBS
 * reports -29 or the signal that killed it.
 * @public
 */
export function interpretFinishedJob(job: FinishedJob): TaskOutcome {
  const { record, result, granted } = job;
  const exit = record?.Exit_status;
  const where = `job ${job.jobId} of node '${job.nodeId}'`;
  const fail = (status: ExecutionStatus, error: PhysError): TaskOutcome => ({
    status,
    error: serializeError(error),
    granted,
  });
  const details = {
    jobId: job.jobId,
    exitStatus: exit,
    comment: record?.comment,
    execHost: record?.exec_host,
    stderrTail: job.stderrTail,
    workDir: job.workDir,
  };

  if (job.cancelRequested) {
    return fail(
      ExecutionStatus.CANCELLED,
      new CancelledError(`Node '${job.nodeId}' was cancelled (qdel ${job.jobId}).`, { details }),
    );
  }
  if (result?.envelope.status === 'COMPLETED') return resultOutcome(result, granted);
  const signal = exit !== undefined && exit >= 256 ? signalName(exit - 256) : undefined;
  if (exit === -29 || (exit !== undefined && exit !== 0 && walltimeExceeded(job))) {
    return fail(
      ExecutionStatus.TIMEOUT,
      new TimeoutError(
        `The ${where} was killed by PBS for exceeding its walltime${job.walltimeSeconds === undefined ? '' : ` of ${job.walltimeSeconds} s`} (Exit_status ${exit}${signal === undefined ? '' : `, ${signal}`}).`,
        { details },
      ),
    );
  }
  if (result !== undefined) return resultOutcome(result, granted);
  const tail = job.stderrTail === '' ? '' : ` Last lines of stderr:\n${job.stderrTail}`;
  const logs = `\nLogs and the task envelope are in ${job.workDir}.`;
  if (record === undefined || exit === undefined) {
    return fail(
      ExecutionStatus.FAILED,
      new SchedulerError(
        'PHYS_SCHEDULER_PBS_DELETED',
        `The ${where} ended without running to completion and without an exit status${record?.comment === undefined ? '' : ` (PBS comment: ${record.comment})`}: it was deleted, or an afterok dependency failed.${logs}`,
        { details },
      ),
    );
  }
  if (exit < 0) {
    const known = PBS_EXIT_CODES[exit];
    const what = known === undefined ? 'a PBS-internal failure' : `${known.name}: ${known.meaning}`;
    const message = `The ${where} ended with Exit_status ${exit} (${what}).${tail}${logs}`;
    const kind = known?.kind ?? 'node';
    const pbsDetails = { ...details, pbsCode: known?.name };
    if (kind === 'oom') {
      return fail(
        ExecutionStatus.FAILED,
        new SchedulerError('PHYS_SCHEDULER_PBS_OOM', message, { details: pbsDetails }),
      );
    }
    if (kind === 'timeout') {
      return fail(ExecutionStatus.TIMEOUT, new TimeoutError(message, { details: pbsDetails }));
    }
    const code =
      kind === 'node'
        ? 'PHYS_SCHEDULER_PBS_NODE_FAIL'
        : kind === 'limit'
          ? 'PHYS_SCHEDULER_PBS_LIMIT'
          : 'PHYS_SCHEDULER_PBS_EXEC_FAILED';
    return fail(
      ExecutionStatus.FAILED,
      new SchedulerError(code, message, {
        retryable: kind === 'node',
        details: { ...pbsDetails, reason: kind === 'node' ? 'NodeFail' : undefined },
      }),
    );
  }
  if (signal !== undefined) {
    const oom = signal === 'SIGKILL' && memoryExceeded(record);
    return fail(
      ExecutionStatus.FAILED,
      new SchedulerError(
        oom ? 'PHYS_SCHEDULER_PBS_OOM' : 'PHYS_SCHEDULER_PBS_JOB_FAILED',
        `The ${where} was killed by ${signal} (Exit_status ${exit})${oom ? ' after using more memory than it requested' : ''}.${tail}${logs}`,
        { details: { ...details, signal } },
      ),
    );
  }
  const hint =
    exit > 128 && exit < 160 && signalName(exit - 128) !== undefined
      ? ` (128 + ${signalName(exit - 128)}: a process of the job was killed by a signal)`
      : exit === 127
        ? ' (command not found: check `node`, `command` and `setup`)'
        : '';
  return fail(
    ExecutionStatus.FAILED,
    new SchedulerError(
      'PHYS_SCHEDULER_PBS_JOB_FAILED',
      exit === 0
        ? `The ${where} exited 0 but wrote no result (waited for the shared filesystem).${tail}${logs}`
        : `The ${where} exited with code ${exit}${hint} without writing a result.${tail}${logs}`,
      { details: { ...details, exitCode: exit } },
    ),
  );
}

function signalName(n: number): string | undefined {
  for (const [name, value] of Object.entries(constants.signals)) if (value === n) return name;
  return undefined;
}

function walltimeExceeded(job: FinishedJob): boolean {
  const record = job.record;
  if (record === undefined) return false;
  if (record.comment !== undefined && /walltime\b.*\bexceed/i.test(record.comment)) return true;
  if (/=>> PBS: job killed: walltime/i.test(job.stderrTail)) return true;
  const used = durationOf(record.resources_used?.walltime);
  const limit = durationOf(record.Resource_List?.walltime) ?? job.walltimeSeconds;
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

import type { BatchJobRecord } from '@phys/scheduler-kit';
import { normalizeSlurmState } from './states.js';

/** One job (or array task) as the status commands report it. @public */
export interface SlurmJobRecord extends BatchJobRecord {
  /** `123`, or `123_4` for task 4 of array job 123. */
  readonly id: string;
  /** Long state name (`RUNNING`, `TIMEOUT`, ...). */
  readonly nativeState: string;
  /** Slurm's reason (`None`, `Resources`, `NonZeroExitCode`, `TimeLimit`, ...). */
  readonly reason?: string;
  /** Exit code of the batch script (0–255), when the command reports it. */
  readonly exitCode?: number;
  /** Signal that ended the batch script (0: none), when the command reports it. */
  readonly signal?: number;
  /** The partition it runs in, or the comma-separated partitions it may start in (squeue). */
  readonly partition?: string;
  /** The nodes it holds, as a Slurm hostlist (`cn[01-04]`); absent while it is pending (squeue). */
  readonly nodes?: string;
}

/**
 * Output format of the one squeue call per poll: job id (array tasks expanded), state, reason,
 * partition and nodes.
 * @public
 */
export const SQUEUE_FORMAT = '%i|%T|%r|%P|%N';

/**
 * The job id `sbatch --parsable` printed (`<jobid>` or `<jobid>;<cluster>`), or undefined when
 * the output holds none.
 * @public
 */
export function parseSbatchParsable(stdout: string): string | undefined {
  for (const line of stdout.split('\n')) {
    const id = line.trim().split(';')[0]?.trim();
    if (id !== undefined && /^\d+$/.test(id)) return id;
  }
  return undefined;
}

/**
 * Parses `squeue -h -r -t all -o '%i|%T|%r|%P|%N'` (or the older `'%i|%T|%r'`): one line per job
 * or array task. A still pending, unexpanded array range (`123_[4-9%2]`, printed without `-r`)
 * is expanded task by task.
 * @public
 */
export function parseSqueue(stdout: string): Map<string, SlurmJobRecord> {
  const out = new Map<string, SlurmJobRecord>();
  for (const line of stdout.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const [id, state, ...rest] = trimmed.split('|');
    if (id === undefined || state === undefined || state === '') continue;
    // Partition and nodes are the last two fields; a reason never holds a '|', but keep any.
    const located = rest.length >= 3;
    const nodes = located ? (rest.pop() as string).trim() : '';
    const partition = located ? (rest.pop() as string).trim() : '';
    const reason = rest.join('|').trim();
    const record = (jobId: string): SlurmJobRecord => ({
      id: jobId,
      nativeState: normalizeSlurmState(state),
      ...(reason === '' ? {} : { reason }),
      ...(partition === '' ? {} : { partition }),
      ...(nodes === '' || nodes === '(null)' ? {} : { nodes }),
    });
    for (const jobId of expandArrayId(id.trim())) out.set(jobId, record(jobId));
  }
  return out;
}

/** `123_[1-3,7]` → `123_1, 123_2, 123_3, 123_7`; plain ids are returned as they are. */
function expandArrayId(id: string): string[] {
  const m = /^(\d+)_\[([^\]]+)\]$/.exec(id);
  if (m === null) return [id];
  const parent = m[1] as string;
  const spec = (m[2] as string).split('%')[0] as string;
  const ids: string[] = [];
  for (const part of spec.split(',')) {
    const r = /^(\d+)(?:-(\d+))?(?::(\d+))?$/.exec(part.trim());
    if (r === null) continue;
    const lo = Number(r[1]);
    const hi = r[2] === undefined ? lo : Number(r[2]);
    const step = r[3] === undefined ? 1 : Number(r[3]);
    for (let i = lo; i <= hi && ids.length < 1_000_000; i += step) ids.push(`${parent}_${i}`);
  }
  return ids;
}

/**
 * Parses `scontrol -o show job [id]`: one line per job; array tasks are keyed
 * `<ArrayJobId>_<ArrayTaskId>`. Only the fields the scheduler needs are read, each anchored on
 * ` Key=` so that values with spaces elsewhere on the line do not confuse it.
 * @public
 */
export function parseScontrolJobs(stdout: string): Map<string, SlurmJobRecord> {
  const out = new Map<string, SlurmJobRecord>();
  for (const line of stdout.split('\n')) {
    const text = ` ${line.trim()}`;
    const jobId = field(text, 'JobId');
    const state = field(text, 'JobState');
    if (jobId === undefined || state === undefined) continue;
    const arrayJob = field(text, 'ArrayJobId');
    const arrayTask = field(text, 'ArrayTaskId');
    const id =
      arrayJob !== undefined && arrayTask !== undefined && /^\d+$/.test(arrayTask)
        ? `${arrayJob}_${arrayTask}`
        : jobId;
    const exit = parseExitCode(field(text, 'ExitCode'));
    const reason = field(text, 'Reason');
    out.set(id, {
      id,
      nativeState: normalizeSlurmState(state),
      ...(reason === undefined ? {} : { reason }),
      ...(exit ?? {}),
    });
  }
  return out;
}

/** The sacct call used when accounting exists: one line per job, no steps. @public */
export const SACCT_FORMAT = 'JobID,State,ExitCode';

/**
 * Parses `sacct -X -n -P -o JobID,State,ExitCode`: `123|COMPLETED|0:0`,
 * `123_4|CANCELLED by 1000|0:15`, `123_[5-9]|PENDING|0:0`.
 * @public
 */
export function parseSacct(stdout: string): Map<string, SlurmJobRecord> {
  const out = new Map<string, SlurmJobRecord>();
  for (const line of stdout.split('\n')) {
    const [id, state, exitCode] = line.trim().split('|');
    if (id === undefined || id === '' || state === undefined || state === '') continue;
    const exit = parseExitCode(exitCode);
    for (const jobId of expandArrayId(id)) {
      out.set(jobId, { id: jobId, nativeState: normalizeSlurmState(state), ...(exit ?? {}) });
    }
  }
  return out;
}

/** `3:0` → `{ exitCode: 3, signal: 0 }`; `0:9` → killed by signal 9. @public */
export function parseExitCode(
  text: string | undefined,
): { readonly exitCode: number; readonly signal: number } | undefined {
  const m = /^(\d+):(\d+)$/.exec(text?.trim() ?? '');
  return m === null ? undefined : { exitCode: Number(m[1]), signal: Number(m[2]) };
}

function field(line: string, key: string): string | undefined {
  const at = line.indexOf(` ${key}=`);
  if (at < 0) return undefined;
  const start = at + key.length + 2;
  const end = line.indexOf(' ', start);
  return line.slice(start, end < 0 ? undefined : end);
}

// Failures of the controller connection rather than of the request: sbatch said nothing about
// the job itself, so the same submission can succeed a moment later.
const TRANSIENT =
  /socket timed out|resource temporarily unavailable|unable to contact slurm controller|connection (?:refused|reset|timed out)|zero bytes were transmitted|slurm_persist_conn|transport endpoint|temporarily unable|try again|not responding|backup controller in standby/i;

/** True when a Slurm command's stderr says the controller was unreachable or busy, not that the request was wrong. @public */
export function isTransientSlurmError(stderr: string): boolean {
  return TRANSIENT.test(stderr);
}

/** True when squeue/scontrol/scancel refused a job id it no longer (or never) knew. @public */
export function isInvalidJobIdError(stderr: string): boolean {
  return /invalid job id specified/i.test(stderr);
}

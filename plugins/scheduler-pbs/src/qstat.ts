import { ExecutionStatus } from '@phys/core';

/**
 * The attributes of one job in `qstat -f -F json` output that phys reads. PBS prints many more.
 * @public
 */
export interface PbsJobRecord {
  /** The id as the server printed it, e.g. `123.pbs01` or `124[3].pbs01`. */
  readonly id: string;
  /** One letter: Q H W T M R E B S U F X (see {@link pbsStateToStatus}). */
  readonly job_state: string;
  /** How a finished job ended (see {@link mapPbsState}). */
  readonly Exit_status?: number;
  /** The server's note, e.g. `Job run at ... and finished`. */
  readonly comment?: string;
  /** `-N`. */
  readonly Job_Name?: string;
  /** Where it ran, e.g. `cn01/0`. */
  readonly exec_host?: string;
  /** What it asked for (`walltime`, `mem`, `ncpus`, `select`, ...). */
  readonly Resource_List?: Readonly<Record<string, string | number>>;
  /** What it used so far (`walltime`, `mem`, `cput`, ...). */
  readonly resources_used?: Readonly<Record<string, string | number>>;
}

/** Parsed `qstat -f -F json` output, by job key (see {@link jobKey}). @public */
export interface QstatResult {
  /** Records by job key. */
  readonly jobs: ReadonlyMap<string, PbsJobRecord>;
  /** Keys of the ids `qstat` called unknown (`qstat: Unknown Job Id ...` on stderr). */
  readonly unknown: ReadonlySet<string>;
}

/**
 * The part of a PBS job id before the server name: `123`, `124[]`, `124[3]`. Servers print ids
 * short or fully qualified (`123.pbs01.example.org`); keys compare them safely.
 * @public
 */
export function jobKey(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/**
 * Reads `qstat -f -F json` output. The JSON is `{ timestamp, pbs_version, pbs_server, Jobs:
 * { "<id>": { job_state, Exit_status, comment, ... } } }`; `Jobs` is absent when no job
 * matched. Unknown ids come from stderr. Returns undefined when stdout is not that JSON.
 * @public
 */
export function parseQstatJson(stdout: string, stderr = ''): QstatResult | undefined {
  let data: unknown;
  const text = stdout.trim();
  if (text === '') {
    data = {};
  } else {
    try {
      data = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const jobs = new Map<string, PbsJobRecord>();
  const raw = (data as { Jobs?: unknown }).Jobs;
  if (raw !== undefined && (typeof raw !== 'object' || raw === null)) return undefined;
  for (const [id, attrs] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
    if (typeof attrs !== 'object' || attrs === null) continue;
    const record = attrs as Record<string, unknown>;
    if (typeof record.job_state !== 'string') continue;
    const exit = record.Exit_status;
    jobs.set(jobKey(id), {
      ...(record as Omit<PbsJobRecord, 'id' | 'Exit_status'>),
      id,
      ...(typeof exit === 'number'
        ? { Exit_status: exit }
        : typeof exit === 'string' && /^-?\d+$/.test(exit)
          ? { Exit_status: Number(exit) }
          : {}),
    } as PbsJobRecord);
  }
  const unknown = new Set<string>();
  for (const match of stderr.matchAll(/Unknown Job Id\s+(\S+)/g)) {
    unknown.add(jobKey(match[1] as string));
  }
  return { jobs, unknown };
}

/**
 * Where a PBS job state puts a task. `F` (finished) and `X` (finished subjob) are terminal and
 * need `Exit_status` and the result file to say how it ended: they map to undefined here.
 * Held (`H`), waiting (`W`), transiting (`T`) and moved (`M`) jobs have not started: QUEUED.
 * Begun arrays (`B`), exiting (`E`) and suspended (`S`, `U`) jobs have started: RUNNING.
 * @public
 */
export function pbsStateToStatus(state: string): ExecutionStatus | undefined {
  switch (state) {
    case 'Q':
    case 'H':
    case 'W':
    case 'T':
    case 'M':
      return ExecutionStatus.QUEUED;
    case 'R':
    case 'E':
    case 'B':
    case 'S':
    case 'U':
      return ExecutionStatus.RUNNING;
    default:
      return undefined;
  }
}

/** Whether a job state means the job will not run any more. @public */
export function isFinishedState(state: string): boolean {
  return state === 'F' || state === 'X' || state === 'C';
}

import type { ResourceRequirements } from '@phys/core';

/** What, besides a node's resources, shapes the sbatch options of its job. @public */
export interface DirectiveDefaults {
  /** `--partition`, unless the node's `partition` tag names another. */
  readonly partition?: string | undefined;
  /** `--account`, unless the node's `account` tag names another. */
  readonly account?: string | undefined;
  /** `--qos`, unless the node's `qos` tag names another. */
  readonly qos?: string | undefined;
}

/** Resource tags a node may set to steer its job (`resources({ tags: { partition: 'gpu' } })`). @public */
export const SLURM_RESOURCE_TAGS: readonly string[] = Object.freeze([
  'partition',
  'account',
  'qos',
  'constraint',
]);

const MIB = 1024 * 1024;

/**
 * The sbatch options that a node's resources ask for: `--cpus-per-task` (whole cores, rounded
 * up), `--ntasks` for mpi ranks (the job's program starts them with `srun`), `--mem` in MiB,
 * `--gpus`, `--time` from the wall time (or, when only a timeout is set, a minute past it so
 * that Slurm stops a job the executor lost), and `--partition`/`--account`/`--qos`/
 * `--constraint` from the defaults or the node's resource tags.
 * @public
 */
export function resourceDirectives(
  req: ResourceRequirements,
  defaults: DirectiveDefaults = {},
  timeoutSeconds?: number,
): string[] {
  const tags = req.tags;
  const partition = tags.partition ?? defaults.partition;
  const account = tags.account ?? defaults.account;
  const qos = tags.qos ?? defaults.qos;
  const out: string[] = [];
  if (partition !== undefined) out.push(`--partition=${partition}`);
  if (account !== undefined) out.push(`--account=${account}`);
  if (qos !== undefined) out.push(`--qos=${qos}`);
  if (tags.constraint !== undefined) out.push(`--constraint=${tags.constraint}`);
  if (req.mpiRanks > 1) out.push(`--ntasks=${req.mpiRanks}`);
  out.push(`--cpus-per-task=${slurmCpus(req.cpu)}`);
  if (req.memoryBytes !== undefined) out.push(`--mem=${slurmMemoryMiB(req.memoryBytes)}M`);
  if (req.gpu > 0) out.push(`--gpus=${req.gpu}`);
  const wall =
    req.wallTimeSeconds ??
    (timeoutSeconds === undefined ? undefined : Math.ceil(timeoutSeconds / 60) * 60 + 60);
  if (wall !== undefined) out.push(`--time=${formatSlurmTime(wall)}`);
  return out;
}

/** Whole cores Slurm grants for a cpu request (`"500m"` → 1, `1.5` → 2). @public */
export function slurmCpus(cpu: number): number {
  return Math.max(1, Math.ceil(cpu - 1e-9));
}

/** Memory in MiB, rounded up, as `--mem` takes it. @public */
export function slurmMemoryMiB(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / MIB));
}

/**
 * Seconds as a Slurm time limit: `HH:MM:SS`, or `D-HH:MM:SS` from one day on (Slurm rounds up to
 * whole minutes).
 * @public
 */
export function formatSlurmTime(seconds: number): string {
  const total = Math.max(1, Math.ceil(seconds));
  const days = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const hms = `${pad(h)}:${pad(m)}:${pad(s)}`;
  return days > 0 ? `${days}-${hms}` : hms;
}

/** `--array=0-<n-1>[%K]` for `n` tasks. @public */
export function arrayDirective(n: number, parallelism?: number): string {
  const range = n === 1 ? '0' : `0-${n - 1}`;
  return `--array=${range}${parallelism === undefined ? '' : `%${parallelism}`}`;
}

/** A job name Slurm shows unchanged: `<prefix>-<stage>` with other characters replaced by `_`. @public */
export function jobName(prefix: string, stageName: string): string {
  return `${prefix}-${stageName.replace(/[^A-Za-z0-9._-]/g, '_')}`.slice(0, 120);
}

/** Escapes `%` so that Slurm does not read a directory name as part of a file-name pattern. */
export function literalSlurmPath(path: string): string {
  return path.replace(/%/g, '%%');
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

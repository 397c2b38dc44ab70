import { z } from 'zod';

const seconds = z.number().positive();
// A Slurm name (partition, account, qos): no whitespace, commas or quotes, which sbatch would split.
const slurmName = z
  .string()
  .regex(/^[^\s,'"]+$/, 'must be one Slurm name without spaces, commas or quotes');

/** zod schema of the `scheduler-slurm` plugin options (also accepted by `new SlurmScheduler`). @public */
export const slurmOptionsSchema = z.object({
  /** `--partition` of every job (default: the cluster's default partition). */
  partition: slurmName.optional(),
  /** `--account` to charge. */
  account: slurmName.optional(),
  /** `--qos` of every job. */
  qos: slurmName.optional(),
  /**
   * Directory for task envelopes, job scripts and job logs; it must be on a filesystem the
   * compute nodes share. Relative paths are resolved from the config's directory
   * (default `<cacheDir>/slurm`, i.e. `.phys/slurm` beside phys.config.ts).
   */
  workDir: z.string().min(1).optional(),
  /** The phys.config.* jobs rebuild stages from (default: the config that loaded the plugin). */
  configFile: z.string().min(1).optional(),
  /** Seconds between two status checks right after a change (default 2). */
  pollInterval: seconds.default(2),
  /** Longest wait between status checks while nothing changes (default 30). */
  maxPollInterval: seconds.default(30),
  /** Extra arguments for every `sbatch`, e.g. `['--constraint=haswell', '--exclusive']`. */
  extraSbatchArgs: z.array(z.string().min(1)).default([]),
  /** Shell lines run by every job before the task (`module load ...`, `export OMP_NUM_THREADS=1`, `source venv`). */
  setup: z.array(z.string()).default([]),
  /** Prefix of job names: `<prefix>-<stage>` (default `phys`). */
  jobNamePrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only')
    .default('phys'),
  /** Most tasks in one job array; larger batches are split (default 1000, Slurm's default MaxArraySize is 1001). */
  maxArraySize: z.number().int().min(1).default(1000),
  /** Tasks of one array running at once (`--array=0-N%K`; default: no limit). */
  arrayParallelism: z.number().int().min(1).optional(),
  /** Seconds ready tasks are collected before submission, so that tasks of one stage share one array (default 0.1). */
  batchWindow: z.number().min(0).default(0.1),
  /** Extra sbatch attempts after a transient failure (socket timed out, controller busy; default 4). */
  submitRetries: z.number().int().min(0).default(4),
  /** Seconds before the first sbatch retry; doubled on each retry, at most 60 (default 1). */
  submitRetryDelay: z.number().min(0).default(1),
  /** Seconds any one Slurm command may take before it is killed (default 60). */
  commandTimeout: seconds.default(60),
  /** Seconds to wait for a finished job's result file to appear (shared filesystems lag; default 60). */
  resultTimeout: seconds.default(60),
  /**
   * Seconds a job may stay stalled (its node down or not responding, or pending while no node
   * of its partition can start jobs) before it is cancelled and fails with `PHYS_JOB_NODE_FAIL`,
   * which a retry policy may retry (default 120). The stall is reported as a warning at once.
   */
  stuckAfter: z.number().min(0).default(120),
  /** Keep the work directories of successful tasks (default false; failed ones are always kept). */
  keepWorkDirs: z.boolean().default(false),
  /** Directory holding sbatch, squeue, scontrol, scancel and sacct (default: found on PATH). */
  slurmBin: z.string().min(1).optional(),
  /**
   * Command that executes a task envelope inside the job, followed by the envelope's path
   * (default: this Node.js and the `phys` CLI installed beside the config, as `<node> <phys> exec`).
   */
  execCommand: z.array(z.string().min(1)).min(1).optional(),
});

/** Options of the `scheduler-slurm` plugin, as written in `phys.config.ts`. @public */
export type SlurmOptions = z.input<typeof slurmOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedSlurmOptions = z.output<typeof slurmOptionsSchema>;

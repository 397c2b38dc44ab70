import { z } from 'zod';

const seconds = z.number().positive();

/** zod schema of {@link PbsSchedulerOptions}. @public */
export const pbsOptionsSchema = z.object({
  /** The `phys.config.*` jobs rebuild stages from (plugin default: the config that loaded it). */
  configFile: z.string().optional(),
  /**
   * Where task envelopes, job scripts and logs go. Compute nodes read and write it, so it must
   * be on a shared filesystem (plugin default: `<cacheDir>/pbs`; without the plugin, `.phys/pbs`
   * beside `configFile`, created private to the user).
   */
  workDir: z.string().optional(),
  /** Destination queue (`-q`). */
  queue: z.string().min(1).optional(),
  /** Account to charge (`-A`). */
  account: z.string().min(1).optional(),
  /** Project (`-P`). */
  project: z.string().min(1).optional(),
  /** Prefix of job names (`-N`, default `phys`). */
  jobNamePrefix: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'must start with a letter; letters, digits, _ . - only')
    .default('phys'),
  /** Shell lines run before the task: `module load node/20`, `source env.sh`, ... */
  setup: z.array(z.string()).default([]),
  /** Environment variables the job exports. */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
  /** Extra directives, one per entry, written as `#PBS <entry>` (e.g. `-l place=scatter`). */
  qsubArgs: z.array(z.string()).default([]),
  /** Node.js on the compute nodes, in place of the one of the host's task command (default: this process's). */
  node: z.string().min(1).optional(),
  /** The command that runs a task envelope, before its path (default: the host's task command, `<node> <@phys/runtime>/dist/envelope/exec.js`; or `['phys', 'exec']`). */
  command: z.array(z.string()).min(1).optional(),
  /** Tasks with equal resources submitted together become one job array of at most this many (default 1000). */
  maxArraySize: z.number().int().min(1).default(1000),
  /** Largest request a job may make, for `capabilities.maxResources` and rejection at submit. */
  maxResources: z
    .object({
      cpu: z.number().positive(),
      gpu: z.number().int().min(0).default(0),
      memory: z.union([z.number().positive(), z.string()]).optional(),
    })
    .optional(),
  /** `qstat` polling: first interval, growth while nothing changes, and the cap (seconds). */
  pollInterval: z
    .object({
      initialSeconds: seconds.default(2),
      multiplier: z.number().min(1).default(1.5),
      maxSeconds: seconds.default(30),
    })
    .prefault({}),
  /** Seconds any qsub/qstat/qdel may take before it is killed (default 30). */
  commandTimeoutSeconds: seconds.default(30),
  /** Attempts of a qsub that failed for a transient reason (default 3). */
  submitAttempts: z.number().int().min(1).default(3),
  /** Seconds before the second qsub attempt, doubling after each further one (default 1). */
  submitRetryDelaySeconds: z.number().min(0).default(1),
  /**
   * Seconds to wait for a result file that the shared filesystem has not shown yet, and for a
   * job that vanished from `qstat` to reappear, before it is declared lost (default 60).
   */
  lostJobGraceSeconds: z.number().min(0).default(60),
  /**
   * Seconds a job may stay stalled (its node down or state-unknown, or queued while no node can
   * start jobs, as `pbsnodes` says) before it is deleted and fails with `PHYS_JOB_NODE_FAIL`,
   * which a retry policy may retry (default 120). The stall is reported as a warning at once.
   */
  stuckAfterSeconds: z.number().min(0).default(120),
  /** `qdel` the jobs still running when the scheduler closes (default true). */
  cancelOnClose: z.boolean().default(true),
  /** Keep work directories of completed tasks (default false; failures are always kept). */
  keepWorkDirs: z.boolean().default(false),
  /** Names of the PBS commands (default `qsub`, `qstat`, `qdel`, `pbsnodes`, found on PATH). */
  commands: z
    .object({
      qsub: z.string().default('qsub'),
      qstat: z.string().default('qstat'),
      qdel: z.string().default('qdel'),
      pbsnodes: z.string().default('pbsnodes'),
    })
    .prefault({}),
});

/** Options of {@link PbsScheduler} and the `scheduler-pbs` plugin. @public */
export type PbsSchedulerOptions = z.input<typeof pbsOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedPbsOptions = z.output<typeof pbsOptionsSchema>;

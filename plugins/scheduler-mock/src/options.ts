import { z } from 'zod';

const seconds = z.number().min(0);

/** zod schema of one injected fault. @public */
export const mockFaultSchema = z.object({
  /**
   * What goes wrong: `fail` (the job exits non-zero before phys runs: FAILED, `PHYS_JOB_FAILED`),
   * `timeout` (the job is killed for exceeding its wall time), `node-fail` (the host dies under
   * the job: retryable FAILED, `PHYS_JOB_NODE_FAIL`), `lost` (the job vanishes from the queue:
   * retryable FAILED, `PHYS_JOB_LOST`, after `lostJobGraceSeconds`), `oom` (the job is killed for
   * going over its memory, as a cgroup OOM killer does: FAILED, `PHYS_JOB_OOM`, not retried by
   * the default retry policy).
   */
  kind: z.enum(['fail', 'timeout', 'node-fail', 'lost', 'oom']),
  /** DAG node ids it strikes: an id, a list of ids, or a RegExp (default: any node). */
  nodeId: z.union([z.string(), z.array(z.string()), z.instanceof(RegExp)]).optional(),
  /** Simulated host it strikes, e.g. `cn02` (default: any host). */
  host: z.string().optional(),
  /** Attempts it strikes, 1-based (default: every attempt). `[1]` lets a retry succeed. */
  attempts: z.array(z.number().int().min(1)).optional(),
  /** Chance that a matching job is struck, drawn from the seeded generator (default 1). */
  probability: z.number().min(0).max(1).default(1),
  /** Exit code of a `fail` fault (default 1). */
  exitCode: z.number().int().min(1).max(255).default(1),
  /** Seconds after the job starts that `timeout`, `node-fail`, `lost` and `oom` strike (default 0.2). */
  afterSeconds: seconds.default(0.2),
});

/** zod schema of {@link MockHpcSchedulerOptions}. @public */
export const mockHpcOptionsSchema = z.object({
  /** The `phys.config.*` jobs rebuild stages from (plugin default: the config that loaded it). */
  configFile: z.string().optional(),
  /**
   * Where task envelopes and job logs go (plugin default: `<cacheDir>/mock-hpc`; without the
   * plugin, `<tmp>/phys-<uid>/mock-hpc`, created private to the user).
   */
  workDir: z.string().optional(),
  /** Simulated compute hosts, named `cn01`, `cn02`, ... (default 2). */
  hosts: z.number().int().min(1).default(2),
  /** CPU cores per host (default: this machine's available parallelism). */
  cpusPerHost: z.number().positive().optional(),
  /** GPUs per host (default 0). Jobs see ordinals `0..n-1`; `CUDA_VISIBLE_DEVICES` names the host's ids. */
  gpusPerHost: z.number().int().min(0).default(0),
  /** Memory per host, bytes or `"64Gi"` (default: not accounted). */
  memoryPerHost: z.union([z.number().positive(), z.string()]).optional(),
  /** Seconds a job waits in the queue before it may start: a number, or `[min, max]` drawn per job (default 0.05). */
  queueLatencySeconds: z.union([seconds, z.tuple([seconds, seconds])]).default(0.05),
  /** Seconds a job gets between SIGTERM and SIGKILL on cancel or wall-time kill (default 2). */
  graceSeconds: seconds.default(2),
  /** Seconds between a job vanishing and the scheduler declaring it lost (default 1). */
  lostJobGraceSeconds: seconds.default(1),
  /** Seed of the generator behind fault probabilities and latency ranges (default 1). */
  seed: z.number().int().default(1),
  /** Faults to inject; the first rule matching a job applies. */
  faults: z.array(mockFaultSchema).default([]),
  /** The command a job runs, followed by the envelope path (default: the host's task command, `node <@phys/runtime>/dist/envelope/exec.js`; e.g. `['phys', 'exec']`). */
  command: z.array(z.string()).min(1).optional(),
  /** Keep the work directories of completed jobs (default false; failed ones are always kept). */
  keepWorkDirs: z.boolean().default(false),
});

/** Options of {@link MockHpcScheduler} and the `scheduler-mock` plugin. @public */
export type MockHpcSchedulerOptions = z.input<typeof mockHpcOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedMockHpcOptions = z.output<typeof mockHpcOptionsSchema>;

/** One injected fault, as written in the options. @public */
export type MockFault = z.input<typeof mockFaultSchema>;

/** One injected fault after defaults. @public */
export type ResolvedMockFault = z.output<typeof mockFaultSchema>;

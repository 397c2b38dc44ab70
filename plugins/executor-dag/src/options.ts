import { z } from 'zod';

const count = z.number().int().min(1);

/** zod schema of the `executor-dag` plugin options. @public */
export const executorDagOptionsSchema = z.object({
  /** Nodes running at once (default: available parallelism). */
  maxWorkers: count.optional(),
  /** CPU cores granted at once (default: maxWorkers). */
  maxCpu: z.number().positive().optional(),
  /** GPUs granted at once (default: the number of gpuIds). */
  maxGpu: z.number().int().min(0).optional(),
  /** GPU ids to hand out. */
  gpuIds: z.array(z.number().int().min(0)).optional(),
  /** Memory granted at once: bytes or `"16Gi"`. */
  maxMemory: z.union([z.number().positive(), z.string()]).optional(),
  /** What a run does after a node fails for good. */
  failureMode: z.enum(['failFast', 'continue']).default('failFast'),
  /** Detect stages that mutate their input (costs a hash per input). */
  strict: z.boolean().default(false),
  /** Isolation of nodes whose node and stage choose none. */
  isolation: z.enum(['inline', 'thread', 'process']).default('inline'),
  /** The phys.config.* declaring the stages (default: the config file that loaded the plugin). */
  configFile: z.string().optional(),
  /**
   * Work directory of process isolation (default: `<tmp>/phys-<uid>`, private to the user; a
   * directory given here is used as it is).
   */
  workDir: z.string().optional(),
  keepWorkDirs: z.boolean().default(false),
  /** Seconds an aborted worker or process gets before it is killed. */
  graceSeconds: z.number().min(0).default(5),
  /**
   * Whether the plugin's LocalScheduler is registered under `SchedulerToken`.
   * Unset (the default): only as a fallback, when no other plugin (Slurm, PBS, ...) registered a
   * scheduler, so a scheduler plugin needs no option here. `true`: claim the `scheduler`
   * capability, so that the registry reports a second scheduler plugin as `PHYS_PLUGIN_CONFLICT`.
   * `false`: never register it; the executor still runs nodes on a local scheduler of its own
   * when nothing else is registered.
   */
  provideScheduler: z.boolean().optional(),
});

/** Options of the `executor-dag` plugin, as written in `phys.config.ts`. @public */
export type ExecutorDagOptions = z.input<typeof executorDagOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedExecutorDagOptions = z.output<typeof executorDagOptionsSchema>;

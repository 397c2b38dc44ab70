import { dirname, join, resolve } from 'node:path';
import {
  type Logger,
  parseMemory,
  parsePluginOptions,
  SchedulerError,
  silentLogger,
} from '@phys/core';
import { BatchQueueScheduler, type BatchSubmitOptions } from '@phys/scheduler-kit';
import type { PbsJobStatus } from './exit-status.js';
import { type PbsSchedulerOptions, pbsOptionsSchema, type ResolvedPbsOptions } from './options.js';
import { PbsBackend, type PbsCommandCounts } from './pbs-backend.js';

/**
 * Options of `PbsScheduler.submit` beyond the task: `afterOk` starts the job only after
 * these jobs (of this scheduler) completed successfully, `-W depend=afterok:...`. A subjob
 * stands for its whole array, since PBS orders by array.
 * @public
 */
export type PbsSubmitOptions = BatchSubmitOptions;

/** What {@link PbsScheduler} is constructed from: the plugin options, and the host's task command. @public */
export type PbsSchedulerInit = PbsSchedulerOptions & {
  /**
   * The host's command that executes a task envelope (the plugin passes
   * `PluginContext.taskCommand`; tests take `taskCommand()` of `@phys/testing`). Used when
   * `command` is not set, with `node` in place of its Node.js when that is set.
   */
  readonly taskCommand?: readonly string[] | undefined;
};

/**
 * Runs phys tasks as PBS Pro / OpenPBS jobs. Each task is a task envelope on a shared
 * filesystem; tasks with equal resources submitted together go out as one job array (`qsub -J`,
 * `PBS_ARRAY_INDEX` picks the envelope); one `qstat -f -F json -x` call per poll interval
 * covers every job in flight; finished jobs are read from their result envelope and
 * `Exit_status`; `qdel` cancels. The loop, the envelopes and the outcomes are
 * `BatchQueueScheduler`'s; PBS's commands and states are `PbsBackend`'s.
 * @public
 */
export class PbsScheduler extends BatchQueueScheduler<PbsJobStatus> {
  /** The options after validation and defaults. */
  readonly options: ResolvedPbsOptions;
  readonly #backend: PbsBackend;

  constructor(options: PbsSchedulerInit, logger: Logger = silentLogger) {
    const { taskCommand, ...rest } = options;
    const parsed = parsePluginOptions('scheduler-pbs', pbsOptionsSchema, rest);
    if (parsed.configFile === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_NO_CONFIG',
        'PbsScheduler needs `configFile`: the phys.config.* that declares the stages its jobs rebuild (on the shared filesystem).',
      );
    }
    const command =
      parsed.command ??
      (taskCommand === undefined || taskCommand.length === 0
        ? undefined
        : [parsed.node ?? (taskCommand[0] as string), ...taskCommand.slice(1)]);
    if (command === undefined) {
      throw new SchedulerError(
        'PHYS_SCHEDULER_PBS_NO_COMMAND',
        'PbsScheduler needs the command that runs a task envelope: set `command` (e.g. `["phys", "exec"]`), or pass `taskCommand` (the plugin passes the host\'s).',
      );
    }
    const max = parsed.maxResources;
    const backend = new PbsBackend(
      parsed,
      max?.memory === undefined ? undefined : parseMemory(max.memory),
      logger,
    );
    super(backend, {
      configFile: parsed.configFile,
      // Like Slurm's: beside the config, where compute nodes see it too; private to the user.
      workDir: parsed.workDir ?? resolve(dirname(parsed.configFile), join('.phys', 'pbs')),
      privateWorkDir: parsed.workDir === undefined,
      taskCommand: command,
      codePrefix: 'PHYS_SCHEDULER_PBS',
      logger,
      maxBatchSize: parsed.maxArraySize,
      poll: parsed.pollInterval,
      resultTimeoutSeconds: parsed.lostJobGraceSeconds,
      lostAfterSeconds: parsed.lostJobGraceSeconds,
      stuckAfterSeconds: parsed.stuckAfterSeconds,
      cancelOnClose: parsed.cancelOnClose,
      keepWorkDirs: parsed.keepWorkDirs,
    });
    this.options = parsed;
    this.#backend = backend;
  }

  /** How many qsub, qstat, qdel and pbsnodes calls this scheduler made. */
  get commandCounts(): PbsCommandCounts {
    return { ...this.#backend.counts };
  }
}

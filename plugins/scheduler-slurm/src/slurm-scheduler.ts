import { dirname, isAbsolute, join, resolve } from 'node:path';
import { type Logger, parsePluginOptions, SchedulerError, silentLogger } from '@phys/core';
import { BatchQueueScheduler } from '@phys/scheduler-kit';
import { SlurmCommands } from './command.js';
import { resolveExecCommand } from './exec-command.js';
import { type ResolvedSlurmOptions, type SlurmOptions, slurmOptionsSchema } from './options.js';
import type { SlurmJobRecord } from './parse.js';
import { SlurmBackend } from './slurm-backend.js';

/** Options of {@link SlurmScheduler}: the plugin options, with the config file jobs load. @public */
export interface SlurmSchedulerOptions extends Omit<SlurmOptions, 'configFile'> {
  /** The phys.config.* declaring the stages; jobs rebuild stages from it (absolute path). */
  readonly configFile: string;
  /** Where warnings (transient sbatch failures, squeue outages) and debug lines go (default: silent). */
  readonly logger?: Logger;
  /**
   * The host's command that executes a task envelope (the plugin passes `PluginContext.taskCommand`),
   * used when `execCommand` is not set and no `phys` CLI is installed beside the config.
   */
  readonly taskCommand?: readonly string[];
}

/** Slurm commands run and polls made so far (for diagnostics, measurements and tests). @public */
export interface SlurmSchedulerStats {
  /** sbatch calls, retries included. */
  readonly sbatch: number;
  /** squeue calls: one per poll. */
  readonly squeue: number;
  /** scontrol calls, made only for jobs that ended without a result while accounting is off. */
  readonly scontrol: number;
  /** scancel calls; one call cancels many jobs. */
  readonly scancel: number;
  /** sacct calls: the first probes whether Slurm keeps accounting. */
  readonly sacct: number;
  /** sinfo calls: one per poll while jobs are queued or running, for the state of their nodes. */
  readonly sinfo: number;
  /** Status checks of the poll loop (each makes exactly one squeue call). */
  readonly polls: number;
  /** Tasks handed to Slurm. */
  readonly tasks: number;
  /** Of the sbatch submissions, how many were job arrays. */
  readonly arrays: number;
}

/**
 * Runs phys tasks as Slurm jobs. Each task travels as a task envelope in a work directory on a
 * shared filesystem; its job runs `phys exec <envelope>`, which rebuilds the stage from the
 * config and writes a result envelope beside it. Ready tasks of one stage that arrive within
 * `batchWindow` go out as one job array; one `squeue` call per poll interval watches every job;
 * finished jobs are read from their result files, and from `sacct` (when Slurm keeps accounting)
 * or `scontrol show job` when a job ended without one. The loop, the envelopes and the outcomes
 * are `BatchQueueScheduler`'s; Slurm's commands and states are `SlurmBackend`'s.
 * @public
 */
export class SlurmScheduler extends BatchQueueScheduler<SlurmJobRecord> {
  /** The validated options, with defaults applied. */
  readonly options: Readonly<ResolvedSlurmOptions>;
  readonly #commands: SlurmCommands;

  constructor(options: SlurmSchedulerOptions) {
    const { configFile, logger = silentLogger, taskCommand, ...rest } = options;
    if (typeof configFile !== 'string' || !isAbsolute(configFile)) {
      throw new SchedulerError(
        'PHYS_SCHEDULER',
        `SlurmScheduler needs the absolute path of the phys.config.* that declares the stages (configFile), got ${JSON.stringify(configFile)}. Jobs load it to rebuild stages.`,
      );
    }
    const parsed = Object.freeze(parsePluginOptions('scheduler-slurm', slurmOptionsSchema, rest));
    const workDir = resolve(dirname(configFile), parsed.workDir ?? join('.phys', 'slurm'));
    if (workDir.includes('\\')) {
      throw new SchedulerError(
        'PHYS_SCHEDULER',
        `The Slurm work directory ${workDir} contains a backslash, which turns off Slurm's file-name patterns; choose another workDir.`,
      );
    }
    const commands = new SlurmCommands(parsed.slurmBin, parsed.commandTimeout);
    super(new SlurmBackend(parsed, commands, configFile, logger), {
      configFile,
      workDir,
      taskCommand: () => execCommand(parsed, configFile, taskCommand),
      codePrefix: 'PHYS_SCHEDULER_SLURM',
      logger,
      batchWindowSeconds: parsed.batchWindow,
      maxBatchSize: parsed.maxArraySize,
      poll: {
        initialSeconds: parsed.pollInterval,
        multiplier: 1.5,
        maxSeconds: parsed.maxPollInterval,
      },
      resultTimeoutSeconds: parsed.resultTimeout,
      stuckAfterSeconds: parsed.stuckAfter,
      keepWorkDirs: parsed.keepWorkDirs,
      privateWorkDir: parsed.workDir === undefined,
    });
    this.options = parsed;
    this.#commands = commands;
  }

  /** Slurm commands run and polls made so far. */
  get stats(): SlurmSchedulerStats {
    const { polls, tasks, arrays } = this.queueStats;
    return { ...this.#commands.calls, polls, tasks, arrays };
  }
}

/** `execCommand`, else the project's `phys` CLI, else the host's task command. */
function execCommand(
  options: ResolvedSlurmOptions,
  configFile: string,
  taskCommand: readonly string[] | undefined,
): readonly string[] {
  const command = options.execCommand ?? resolveExecCommand(configFile) ?? taskCommand;
  if (command !== undefined && command.length > 0) return command;
  throw new SchedulerError(
    'PHYS_SCHEDULER_SLURM_NO_COMMAND',
    `SlurmScheduler has no command to run task envelopes with: no \`phys\` CLI is installed beside ${configFile}. Install @phys/cli in the project, set \`execCommand\`, or pass \`taskCommand\` (the plugin passes the host's).`,
  );
}

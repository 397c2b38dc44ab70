import { join, resolve } from 'node:path';
import type { Logger, Scheduler } from '@phys/core';
import {
  definePlugin,
  LoggerToken,
  type PhysErrorCode,
  type PhysPlugin,
  type PluginContext,
  PluginError,
  parsePluginOptions,
  SchedulerError,
  SchedulerToken,
} from '@phys/core';
import type { z } from 'zod';

/**
 * The options {@link defineSchedulerPlugin} reads itself when a plugin's schema declares them.
 * Relative paths are resolved from the directory of the config file.
 * @public
 */
export interface SchedulerPluginOptions {
  /** The `phys.config.*` jobs rebuild stages from (default: the config that loaded the plugin). */
  readonly configFile?: string | undefined;
  /** Where the scheduler writes task envelopes and logs (default: `<cacheDir>/<workDirName>`). */
  readonly workDir?: string | undefined;
}

/** What {@link defineSchedulerPlugin} resolved for the scheduler it creates. @public */
export interface SchedulerPluginSetup {
  /** Absolute path of the config file the scheduler's jobs load to rebuild stages. */
  readonly configFile: string;
  /** Absolute work directory: the `workDir` option, else `<cacheDir>/<workDirName>`. */
  readonly workDir: string;
  /** The run's logger (`LoggerToken`), else the plugin's. */
  readonly logger: Logger;
  /** The host's command that executes a task envelope (`PluginContext.taskCommand`). */
  readonly taskCommand: readonly string[];
}

/** What {@link defineSchedulerPlugin} takes. @public */
export interface SchedulerPluginDefinition<TSchema extends z.ZodType<SchedulerPluginOptions>> {
  /** The plugin's short id, as written in configs: `'scheduler-slurm'`. */
  readonly name: string;
  /** The plugin's version, shown in diagnostics. */
  readonly version?: string;
  /** zod schema of the options; `configFile` and `workDir` in it are honoured (see {@link SchedulerPluginOptions}). */
  readonly optionsSchema: TSchema;
  /** The options as the user wrote them; validated here with `parsePluginOptions`. */
  readonly options?: z.input<TSchema> | undefined;
  /** Directory under the cache directory that is the default work directory: `'slurm'`. */
  readonly workDirName: string;
  /** Code of the error when no config file is known (default `PHYS_SCHEDULER_NO_CONFIG`). */
  readonly noConfigFileCode?: PhysErrorCode;
  /**
   * Creates the scheduler, once, when the run first resolves `SchedulerToken`; never in job
   * processes, which load the same config only to rebuild stages.
   */
  create(
    ctx: PluginContext<z.output<TSchema>>,
    options: z.output<TSchema>,
    setup: SchedulerPluginSetup,
  ): Scheduler;
}

/**
 * A plugin providing the `scheduler` capability: validates the options, registers a lazy
 * `SchedulerToken` factory that resolves the config file and work directory and calls `create`,
 * and closes the scheduler when the runtime is disposed.
 *
 * @example
 * ```ts
 * export default function schedulerSandbox(options?: SandboxOptions) {
 *   return defineSchedulerPlugin({
 *     name: 'scheduler-sandbox',
 *     optionsSchema: sandboxOptionsSchema,
 *     options,
 *     workDirName: 'sandbox',
 *     noConfigFileCode: 'PHYS_SCHEDULER_SANDBOX_NO_CONFIG',
 *     create: (_ctx, parsed, { configFile, workDir }) =>
 *       new SandboxScheduler({ ...parsed, configFile, workDir }),
 *   });
 * }
 * ```
 * @public
 */
export function defineSchedulerPlugin<TSchema extends z.ZodType<SchedulerPluginOptions>>(
  definition: SchedulerPluginDefinition<TSchema>,
): PhysPlugin<z.output<TSchema>> {
  const { name, optionsSchema, workDirName, create } = definition;
  const options = parsePluginOptions(name, optionsSchema, definition.options);
  const paths: SchedulerPluginOptions = options;
  let scheduler: Scheduler | undefined;
  return definePlugin<z.output<TSchema>>({
    name,
    ...(definition.version === undefined ? {} : { version: definition.version }),
    provides: ['scheduler'],
    options,
    register(ctx) {
      // Job processes load this config too, and register this plugin: nothing may start here.
      ctx.container.register(SchedulerToken, {
        useFactory: (container) => {
          scheduler ??= create(ctx, options, {
            configFile: configFileOf(ctx, paths.configFile, name, definition.noConfigFileCode),
            workDir: resolve(
              ctx.configDir,
              paths.workDir ?? join(ctx.cacheDir ?? join(ctx.configDir, '.phys'), workDirName),
            ),
            logger: container.isRegistered(LoggerToken, true)
              ? container.resolve(LoggerToken)
              : ctx.logger,
            taskCommand: taskCommandOf(ctx, name),
          });
          return scheduler;
        },
      });
    },
    async dispose() {
      const closing = scheduler;
      scheduler = undefined;
      await closing?.close?.();
    },
  });
}

function configFileOf(
  ctx: PluginContext<unknown>,
  option: string | undefined,
  plugin: string,
  code: PhysErrorCode = 'PHYS_SCHEDULER_NO_CONFIG',
): string {
  const given = option ?? ctx.configFile;
  if (given !== undefined) return resolve(ctx.configDir, given);
  throw new SchedulerError(
    code,
    `The ${plugin} plugin needs a config file for its jobs to rebuild stages from, but this config was not loaded from one. Load the config from a phys.config.* file, or set the plugin's \`configFile\` option.`,
    { details: { plugin, configDir: ctx.configDir } },
  );
}

function taskCommandOf(ctx: PluginContext, name: string): readonly string[] {
  if (ctx.taskCommand !== undefined && ctx.taskCommand.length > 0) return ctx.taskCommand;
  throw new PluginError(
    name,
    'PHYS_PLUGIN_FAILED',
    'The host gave no `taskCommand` to start jobs with. Load the plugin through @phys/runtime (createRuntime or the phys CLI), or pass a context with `taskCommand`.',
  );
}

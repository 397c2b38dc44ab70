import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  definePlugin,
  LoggerToken,
  type PhysPlugin,
  type PluginContext,
  PluginError,
  parsePluginOptions,
  SchedulerToken,
} from '@phys/core';
import { type ResolvedSlurmOptions, type SlurmOptions, slurmOptionsSchema } from './options.js';
import { SlurmScheduler } from './slurm-scheduler.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'scheduler-slurm': SlurmOptions;
  }
}

// Where a config found by search lives, when the host names only its directory.
const CONFIG_NAMES = [
  'phys.config.ts',
  'phys.config.mts',
  'phys.config.js',
  'phys.config.mjs',
  '.physrc.ts',
  '.physrc.js',
  '.physrc.mjs',
];

function configFileOf(ctx: PluginContext<ResolvedSlurmOptions>): string {
  const given = ctx.options.configFile ?? ctx.configFile;
  if (given !== undefined) return isAbsolute(given) ? given : resolve(ctx.configDir, given);
  const found = CONFIG_NAMES.map((name) => join(ctx.configDir, name)).find((p) => existsSync(p));
  if (found !== undefined) return found;
  throw new PluginError(
    'scheduler-slurm',
    'PHYS_PLUGIN_FAILED',
    `Slurm jobs rebuild stages from a phys.config file, but none was found in ${ctx.configDir}. Set the configFile option.`,
  );
}

/**
 * The `scheduler-slurm` plugin: provides a {@link SlurmScheduler} (`SchedulerToken`), so that
 * the DAG executor sends every node to Slurm. List `executor-dag` with
 * `{ provideScheduler: false }` beside it.
 * @public
 */
export default function schedulerSlurm(options?: SlurmOptions): PhysPlugin<ResolvedSlurmOptions> {
  const parsed = parsePluginOptions('scheduler-slurm', slurmOptionsSchema, options);
  let scheduler: SlurmScheduler | undefined;
  return definePlugin<ResolvedSlurmOptions>({
    name: 'scheduler-slurm',
    provides: ['scheduler'],
    options: parsed,
    register(ctx) {
      ctx.container.register(SchedulerToken, {
        useFactory: (container) => {
          if (scheduler === undefined) {
            const configFile = configFileOf(ctx);
            const base = ctx.cacheDir ?? join(ctx.configDir, '.phys');
            const { configFile: _ignored, ...rest } = parsed;
            scheduler = new SlurmScheduler({
              ...rest,
              configFile,
              workDir: resolve(ctx.configDir, parsed.workDir ?? join(base, 'slurm')),
              logger: container.isRegistered(LoggerToken, true)
                ? container.resolve(LoggerToken)
                : ctx.logger,
            });
          }
          return scheduler;
        },
      });
    },
    async dispose() {
      const s = scheduler;
      scheduler = undefined;
      await s?.close();
    },
  });
}

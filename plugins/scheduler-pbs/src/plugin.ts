import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  definePlugin,
  LoggerToken,
  type PhysPlugin,
  type PluginContext,
  parsePluginOptions,
  SchedulerError,
  SchedulerToken,
} from '@phys/core';
import { type PbsSchedulerOptions, pbsOptionsSchema, type ResolvedPbsOptions } from './options.js';
import { PbsScheduler } from './pbs-scheduler.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'scheduler-pbs': PbsSchedulerOptions;
  }
}

function absolute(ctx: PluginContext<ResolvedPbsOptions>, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.configDir, path);
}

/**
 * The `scheduler-pbs` plugin: provides a {@link PbsScheduler} under `SchedulerToken`, so DAG
 * pipelines run as PBS jobs. Jobs rebuild stages from the config that loaded the plugin unless
 * `configFile` says otherwise; `workDir` defaults to `<cacheDir>/pbs` (keep it on a shared
 * filesystem).
 * @public
 */
export default function schedulerPbs(
  options?: PbsSchedulerOptions,
): PhysPlugin<ResolvedPbsOptions> {
  const parsed = parsePluginOptions('scheduler-pbs', pbsOptionsSchema, options);
  let scheduler: PbsScheduler | undefined;
  return definePlugin<ResolvedPbsOptions>({
    name: 'scheduler-pbs',
    provides: ['scheduler'],
    options: parsed,
    register(ctx) {
      // Jobs load this config too and register the plugin: nothing may start here.
      ctx.container.register(SchedulerToken, {
        useFactory: (container) => {
          if (scheduler !== undefined) return scheduler;
          const given = parsed.configFile ?? ctx.configFile;
          if (given === undefined) {
            throw new SchedulerError(
              'PHYS_SCHEDULER_PBS_NO_CONFIG',
              "The scheduler-pbs plugin needs a config file for its jobs to rebuild stages from: load the config from a file, or set the plugin's `configFile` option.",
            );
          }
          const logger = container.isRegistered(LoggerToken, true)
            ? container.resolve(LoggerToken)
            : ctx.logger;
          scheduler = new PbsScheduler(
            {
              ...parsed,
              configFile: absolute(ctx, given),
              workDir: absolute(
                ctx,
                parsed.workDir ?? join(ctx.cacheDir ?? join(tmpdir(), 'phys'), 'pbs'),
              ),
            },
            logger,
          );
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

import type { PhysPlugin } from '@phys/core';
import { defineSchedulerPlugin } from '@phys/scheduler-kit';
import { type ResolvedSlurmOptions, type SlurmOptions, slurmOptionsSchema } from './options.js';
import { SlurmScheduler } from './slurm-scheduler.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'scheduler-slurm': SlurmOptions;
  }
}

/**
 * The `scheduler-slurm` plugin: provides a {@link SlurmScheduler} (`SchedulerToken`), so that
 * the DAG executor sends every node to Slurm. Jobs rebuild stages from the config that loaded
 * the plugin unless `configFile` says otherwise; `workDir` defaults to `<cacheDir>/slurm` (keep
 * it on a shared filesystem).
 * @public
 */
export default function schedulerSlurm(options?: SlurmOptions): PhysPlugin<ResolvedSlurmOptions> {
  return defineSchedulerPlugin({
    name: 'scheduler-slurm',
    optionsSchema: slurmOptionsSchema,
    options,
    workDirName: 'slurm',
    noConfigFileCode: 'PHYS_PLUGIN_FAILED',
    create: (_ctx, parsed, { configFile, workDir, logger, taskCommand }) =>
      new SlurmScheduler({ ...parsed, configFile, workDir, logger, taskCommand }),
  });
}

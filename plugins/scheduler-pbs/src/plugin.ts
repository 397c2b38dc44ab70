import type { PhysPlugin } from '@phys/core';
import { defineSchedulerPlugin } from '@phys/scheduler-kit';
import { type PbsSchedulerOptions, pbsOptionsSchema, type ResolvedPbsOptions } from './options.js';
import { PbsScheduler } from './pbs-scheduler.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'scheduler-pbs': PbsSchedulerOptions;
  }
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
  return defineSchedulerPlugin({
    name: 'scheduler-pbs',
    optionsSchema: pbsOptionsSchema,
    options,
    workDirName: 'pbs',
    noConfigFileCode: 'PHYS_SCHEDULER_PBS_NO_CONFIG',
    create: (_ctx, parsed, { configFile, workDir, logger, taskCommand }) =>
      new PbsScheduler({ ...parsed, configFile, workDir, taskCommand }, logger),
  });
}

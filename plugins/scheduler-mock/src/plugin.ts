import type { PhysPlugin } from '@phys/core';
import { defineSchedulerPlugin } from '@phys/scheduler-kit';
import { MockHpcScheduler } from './mock-hpc-scheduler.js';
import {
  type MockHpcSchedulerOptions,
  mockHpcOptionsSchema,
  type ResolvedMockHpcOptions,
} from './options.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'scheduler-mock': MockHpcSchedulerOptions;
  }
}

/**
 * The `scheduler-mock` plugin: provides a {@link MockHpcScheduler} under `SchedulerToken`, so
 * DAG pipelines run on a simulated cluster. Jobs rebuild stages from the config that loaded the
 * plugin unless `configFile` says otherwise; `workDir` defaults to `<cacheDir>/mock-hpc`.
 * @public
 */
export default function schedulerMock(
  options?: MockHpcSchedulerOptions,
): PhysPlugin<ResolvedMockHpcOptions> {
  return defineSchedulerPlugin({
    name: 'scheduler-mock',
    optionsSchema: mockHpcOptionsSchema,
    options,
    workDirName: 'mock-hpc',
    noConfigFileCode: 'PHYS_SCHEDULER_MOCK_NO_CONFIG',
    create: (_ctx, parsed, { configFile, workDir, taskCommand }) =>
      new MockHpcScheduler({ ...parsed, configFile, workDir, taskCommand }),
  });
}

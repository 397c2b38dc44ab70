import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import {
  definePlugin,
  type PhysPlugin,
  type PluginContext,
  parsePluginOptions,
  SchedulerError,
  SchedulerToken,
} from '@phys/core';
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

function absolute(ctx: PluginContext<ResolvedMockHpcOptions>, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.configDir, path);
}

/**
 * The `scheduler-mock` plugin: provides a {@link MockHpcScheduler} under `SchedulerToken`, so
 * DAG pipelines run on a simulated cluster. Jobs rebuild stages from the config that loaded the
 * plugin unless `configFile` says otherwise.
 * @public
 */
export default function schedulerMock(
  options?: MockHpcSchedulerOptions,
): PhysPlugin<ResolvedMockHpcOptions> {
  const parsed = parsePluginOptions('scheduler-mock', mockHpcOptionsSchema, options);
  let scheduler: MockHpcScheduler | undefined;
  return definePlugin<ResolvedMockHpcOptions>({
    name: 'scheduler-mock',
    provides: ['scheduler'],
    options: parsed,
    register(ctx) {
      // Job processes load this config too and register the plugin: nothing may start here.
      ctx.container.register(SchedulerToken, {
        useFactory: () => {
          if (scheduler !== undefined) return scheduler;
          const given = parsed.configFile ?? ctx.configFile;
          if (given === undefined) {
            throw new SchedulerError(
              'PHYS_SCHEDULER_MOCK_NO_CONFIG',
              "The scheduler-mock plugin needs a config file for its jobs to rebuild stages from: load the config from a file, or set the plugin's `configFile` option.",
            );
          }
          scheduler = new MockHpcScheduler({
            ...parsed,
            configFile: absolute(ctx, given),
            workDir: absolute(
              ctx,
              parsed.workDir ?? join(ctx.cacheDir ?? join(tmpdir(), 'phys'), 'mock-hpc'),
            ),
          });
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

import { isAbsolute, resolve } from 'node:path';
import {
  definePlugin,
  type PhysPlugin,
  parsePluginOptions,
  SchedulerError,
  SchedulerToken,
} from '@phys/core';
import { z } from 'zod';
import { SandboxScheduler } from './sandbox-scheduler.js';

const optionsSchema = z.object({
  /** Tasks running at once. */
  maxConcurrent: z.number().int().min(1).default(2),
  /** CPU cores one task may ask for (default: available parallelism). */
  maxCpu: z.number().positive().optional(),
  /** Environment variables the sandboxes inherit. */
  passEnv: z.array(z.string()).default(['PATH', 'HOME', 'LANG', 'TZ']),
  /** Parent directory of the per-task sandboxes (relative to the config file). */
  workDir: z.string().optional(),
  /** Seconds between SIGTERM and SIGKILL. */
  graceSeconds: z.number().min(0).default(2),
});

/** Options of the `sandbox-scheduler` plugin, as written in phys.config.ts. @public */
export type SandboxPluginOptions = z.input<typeof optionsSchema>;

// Makes `['sandbox-scheduler', { ... }]` entries type-checked in configs that import this package.
declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'sandbox-scheduler': SandboxPluginOptions;
  }
}

/**
 * The `sandbox-scheduler` plugin: provides a {@link SandboxScheduler} under `SchedulerToken`.
 * Its tasks rebuild stages from the config file that loaded the plugin.
 * @public
 */
export default function sandboxScheduler(
  options?: SandboxPluginOptions,
): PhysPlugin<z.output<typeof optionsSchema>> {
  const parsed = parsePluginOptions('sandbox-scheduler', optionsSchema, options);
  let scheduler: SandboxScheduler | undefined;
  return definePlugin({
    name: 'sandbox-scheduler',
    version: '0.1.0',
    provides: ['scheduler'],
    options: parsed,
    register(ctx) {
      // Child processes load the same config and register this plugin too: start nothing here.
      ctx.container.register(SchedulerToken, {
        useFactory: () => {
          if (ctx.configFile === undefined) {
            throw new SchedulerError(
              'PHYS_SCHEDULER_SANDBOX_NO_CONFIG',
              'sandbox-scheduler needs a config loaded from a file: its child processes rebuild stages from it.',
            );
          }
          const workDir =
            parsed.workDir === undefined
              ? undefined
              : isAbsolute(parsed.workDir)
                ? parsed.workDir
                : resolve(ctx.configDir, parsed.workDir);
          scheduler ??= new SandboxScheduler({
            configFile: ctx.configFile,
            maxConcurrent: parsed.maxConcurrent,
            passEnv: parsed.passEnv,
            graceSeconds: parsed.graceSeconds,
            ...(parsed.maxCpu === undefined ? {} : { maxCpu: parsed.maxCpu }),
            ...(workDir === undefined ? {} : { workDir }),
          });
          return scheduler;
        },
      });
    },
    async dispose() {
      await scheduler?.close();
      scheduler = undefined;
    },
  });
}

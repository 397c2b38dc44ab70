import type { PhysPlugin } from '@phys/core';
import { defineSchedulerPlugin } from '@phys/scheduler-kit';
import { z } from 'zod';
import { SandboxScheduler } from './sandbox-scheduler.js';

const optionsSchema = z.object({
  /** Tasks running at once. */
  maxConcurrent: z.number().int().min(1).default(2),
  /** CPU cores one task may ask for (default: available parallelism). */
  maxCpu: z.number().positive().optional(),
  /** Environment variables the sandboxes inherit. */
  passEnv: z.array(z.string()).default(['PATH', 'HOME', 'LANG', 'TZ']),
  /** The phys.config.* tasks rebuild stages from (default: the config that loaded the plugin). */
  configFile: z.string().optional(),
  /** Parent directory of the per-task sandboxes (default `<cacheDir>/sandbox`; relative to the config file). */
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
  return defineSchedulerPlugin({
    name: 'sandbox-scheduler',
    version: '0.1.0',
    optionsSchema,
    options,
    workDirName: 'sandbox',
    noConfigFileCode: 'PHYS_SCHEDULER_SANDBOX_NO_CONFIG',
    // Runs in the head process only, when the executor first asks for the scheduler.
    create: (_ctx, parsed, { configFile, workDir, taskCommand }) =>
      new SandboxScheduler({ ...parsed, configFile, workDir, taskCommand }),
  });
}

import { definePlugin, type PhysPlugin, parsePluginOptions } from '@phys/core';
import { z } from 'zod';
import { sweepCommand } from './cli/command.js';
import { collectResults } from './collect-results.js';
import { DEFAULT_MAX_POINTS, MAX_POINTS_CEILING } from './spec.js';

/** zod schema of the `sweep` plugin options. @public */
export const sweepOptionsSchema = z.object({
  /**
   * The most points `phys sweep` may run (default 100,000, at most 10,000,000). Points are
   * counted before anything is expanded; a larger sweep fails with `PHYS_SWEEP_TOO_LARGE`.
   */
  maxPoints: z.number().int().min(1).max(MAX_POINTS_CEILING).default(DEFAULT_MAX_POINTS),
});

/** Options of the `sweep` plugin. @public */
export type SweepPluginOptions = z.input<typeof sweepOptionsSchema>;

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    sweep: SweepPluginOptions;
  }
}

/**
 * The `sweep` plugin: adds the `phys sweep` command, declares the `sweep` capability and
 * registers the `collectResults` stage, so that worker threads and cluster jobs that load the
 * config can rebuild a sweep's collect node. It registers nothing else.
 * @public
 */
export default function sweep(options?: SweepPluginOptions): PhysPlugin<SweepPluginOptions> {
  const parsed = parsePluginOptions('sweep', sweepOptionsSchema, options);
  return definePlugin<SweepPluginOptions>({
    name: 'sweep',
    provides: ['sweep'],
    options: parsed,
    commands: [sweepCommand],
    register(ctx) {
      ctx.stages.register(collectResults, "plugin 'sweep'");
    },
  });
}

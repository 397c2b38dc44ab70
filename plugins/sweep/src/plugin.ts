import { definePlugin, type PhysPlugin, parsePluginOptions } from '@phys/core';
import { z } from 'zod';
import { sweepCommand } from './cli/command.js';
import { collectResults } from './collect-results.js';

/** zod schema of the `sweep` plugin options. @public */
export const sweepOptionsSchema = z.object({});

/** Options of the `sweep` plugin (none yet; the object is reserved). @public */
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

import { resolve } from 'node:path';
import { definePlugin, PackagerToken, type PhysPlugin, parsePluginOptions } from '@phys/core';
import { z } from 'zod';
import { packageVerifyCommand } from './cli/command.js';
import { ModelArtifactPackager } from './packager.js';

/** zod schema of the `ml-packager` plugin options. @public */
export const mlPackagerOptionsSchema = z.object({
  /** Where packages go, relative to the config's directory (default `models`). */
  root: z.string().min(1).default('models'),
  /** Also write a `.tar.gz` of every package. */
  archive: z.boolean().default(true),
});

/** Options of the `ml-packager` plugin, as written in `phys.config.ts`. @public */
export type MlPackagerOptions = z.input<typeof mlPackagerOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedMlPackagerOptions = z.output<typeof mlPackagerOptionsSchema>;

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'ml-packager': MlPackagerOptions;
  }
}

/**
 * The `ml-packager` plugin: provides a {@link ModelArtifactPackager} under `PackagerToken`, so
 * that the DAG executor packages every node marked `modelArtifact: true`, and adds the
 * `phys package verify` command. Packages go to
 * `<configDir>/<root>/<name>/<version>/`; the environment records the config directory's git
 * commit and installed `@phys/*` packages.
 * @public
 */
export default function mlPackager(
  options?: MlPackagerOptions,
): PhysPlugin<ResolvedMlPackagerOptions> {
  const parsed = parsePluginOptions('ml-packager', mlPackagerOptionsSchema, options);
  return definePlugin<ResolvedMlPackagerOptions>({
    name: 'ml-packager',
    provides: ['packager'],
    options: parsed,
    commands: [packageVerifyCommand],
    register(ctx) {
      let packager: ModelArtifactPackager | undefined;
      ctx.container.register(PackagerToken, {
        useFactory: () => {
          packager ??= new ModelArtifactPackager({
            root: resolve(ctx.configDir, parsed.root),
            archive: parsed.archive,
            projectDir: ctx.configDir,
          });
          return packager;
        },
      });
    },
  });
}

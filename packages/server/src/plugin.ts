import { definePlugin, type PhysPlugin, parsePluginOptions } from '@phys/core';
import { serveCommand } from './cli/command.js';
import { schedulesCommands } from './cli/schedules-commands.js';
import { type ResolvedServerOptions, type ServerOptions, serverOptionsSchema } from './options.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    server: ServerOptions;
  }
}

/**
 * The `server` plugin: adds `phys serve`, which serves the config's pipelines over the HTTP API
 * v1 with a durable SQLite run store (`startServer` of `@phys/server/node`) and fires their
 * schedules, and `phys schedules ls|pause|resume|trigger`. It provides no capability: the runs
 * use the config's own executor, cache and scheduler plugins.
 * @public
 */
export default function server(options?: ServerOptions): PhysPlugin<ResolvedServerOptions> {
  const parsed = parsePluginOptions('server', serverOptionsSchema, options);
  return definePlugin<ResolvedServerOptions>({
    name: 'server',
    options: parsed,
    commands: [serveCommand, ...schedulesCommands],
    register() {},
  });
}

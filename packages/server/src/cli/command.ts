import type { CliCommand } from '@phys/core';

/**
 * `phys serve`, as data: the CLI builds the command line and `--help` from it, and imports
 * ./serve-command.js only when the command runs.
 * @public
 */
export const serveCommand: CliCommand = {
  path: ['serve'],
  description:
    "serve the config's pipelines over HTTP (API v1) with a durable run store, until SIGINT/SIGTERM",
  options: [
    { flags: '--host <host>', description: 'address to listen on (default 127.0.0.1)' },
    { flags: '--port <port>', description: 'TCP port (default 8787; 0 picks a free one)' },
    {
      flags: '--store <file>',
      description: 'SQLite file of the runs (default <cacheDir>/server.sqlite)',
    },
    {
      flags: '--max-concurrent-runs <n>',
      description: 'runs executing at once (default 2)',
    },
  ],
  load: () => import('./serve-command.js'),
  interruptNotice: 'stopping the server',
};

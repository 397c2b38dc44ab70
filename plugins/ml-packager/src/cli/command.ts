import type { CliCommand } from '@phys/core';

/**
 * `phys package verify`, as data: the CLI builds the command line and `--help` from it, and
 * imports ./package-verify-command.js only when the command runs.
 * @public
 */
export const packageVerifyCommand: CliCommand = {
  path: ['package', 'verify'],
  description: 'check a model package directory or .tar.gz: exit 0 when intact, 1 otherwise',
  arguments: [{ name: '<path>', description: 'package directory or .tar.gz archive' }],
  load: () => import('./package-verify-command.js'),
};

import type { CliCommand, CliOption } from '@phys/core';

const load = () => import('./schedules-command.js');

const where: readonly CliOption[] = [
  {
    flags: '--remote <url>',
    description:
      "the phys serve server to ask (default PHYS_REMOTE, else the config's server if it answers, else its store file)",
  },
  {
    flags: '--store <file>',
    description:
      'SQLite store of the server, used when no server answers (default <cacheDir>/server.sqlite)',
  },
];
const name = [{ name: '<name>', description: 'the schedule (phys schedules ls lists them)' }];

/**
 * `phys schedules ls|pause|resume|trigger`, as data: the CLI builds the command lines and
 * `--help` from them and imports ./schedules-command.js only when one runs.
 * @public
 */
export const schedulesCommands: readonly CliCommand[] = [
  {
    path: ['schedules', 'ls'],
    description: 'list the schedules: rule, time zone, policies, next five fire times, last run',
    options: where,
    load,
  },
  {
    path: ['schedules', 'pause'],
    description: 'pause a schedule (persisted: it stays paused across restarts until resumed)',
    arguments: name,
    options: where,
    load,
  },
  {
    path: ['schedules', 'resume'],
    description:
      'resume a schedule: it fires from its next fire time on (no catch-up of the pause)',
    arguments: name,
    options: where,
    load,
  },
  {
    path: ['schedules', 'trigger'],
    description:
      "start a schedule's pipeline now, with its params; without a server, run it here and wait",
    arguments: name,
    options: where,
    load,
  },
];

import type { CliCommand } from '@phys/core';

/**
 * `phys sweep`, as data: the CLI builds the command line and `--help` from it, and imports
 * ./sweep-command.js only when the command runs.
 * @public
 */
export const sweepCommand: CliCommand = {
  path: ['sweep'],
  description: 'run a DAG pipeline once per parameter point and print the results table',
  arguments: [{ name: '<pipeline>', description: 'name of the DAG pipeline' }],
  options: [
    {
      flags: '-s, --set <node.param=values>',
      description:
        'values of a stage config key: v1,v2,... or a range lo..hi[:steps][:log][:int] (repeatable)',
      repeatable: true,
    },
    {
      flags: '-m, --mode <mode>',
      description: 'how points are made',
      choices: ['grid', 'zip', 'random', 'lhs'],
      default: 'grid',
    },
    { flags: '-n, --samples <n>', description: 'number of points to draw (random and lhs)' },
    { flags: '--seed <seed>', description: 'seed of the random and lhs draws' },
    {
      flags: '-o, --out <file>',
      description: 'write the results table to <file> (CSV, or JSON for *.json)',
    },
    {
      flags: '--progress <mode>',
      description: 'progress display',
      choices: ['auto', 'live', 'plain', 'none'],
      default: 'auto',
    },
  ],
  load: () => import('./sweep-command.js'),
};

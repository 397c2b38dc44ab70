// @phys/cli — the `phys` command line, callable as a function for tests and other programs.

export { main, runCli } from './cli.js';
export type { CliWritable, RunCliOptions } from './context.js';
export { ExitCode, exitCodeFor } from './exit-codes.js';

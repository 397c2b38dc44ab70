// @phys/cli — the `phys` command line, callable as a function for tests and other programs.

export { main, runCli } from './cli.js';
export type { CliWritable, RunCliOptions } from './context.js';
export { exitCodeFor } from './exit-code-for.js';
export { ExitCode } from './exit-codes.js';
export type { GraphFormatOptions, GraphNode } from './graph-format.js';
export { toDot, toMermaid } from './graph-format.js';

import type { CliCommandContext, CliFormat } from '@phys/core';
import type { PhysRuntime } from '@phys/runtime';
import type { CliContext } from './context.js';
import { formatCounts, formatDuration, formatNumber, table } from './format.js';
import { runDag } from './run-dag.js';

/** The host's formatting, as plugin commands get it. */
const format: CliFormat = Object.freeze({
  table,
  number: formatNumber,
  duration: formatDuration,
  counts: formatCounts,
});

/** What the host parsed for one plugin command. */
export interface ParsedCommand {
  readonly path: readonly string[];
  readonly args: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
  readonly json: boolean;
}

/** The context a plugin command's handler runs with. */
export function createCommandContext(
  ctx: CliContext,
  runtime: PhysRuntime,
  parsed: ParsedCommand,
): CliCommandContext {
  const context: CliCommandContext = {
    path: parsed.path,
    args: parsed.args,
    options: parsed.options,
    json: parsed.json,
    runtime,
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    cwd: ctx.cwd,
    // A signal that never aborts when runCli was given none.
    signal: ctx.signal ?? new AbortController().signal,
    out: ctx.out,
    err: ctx.err,
    format,
    runDag: (run) =>
      runDag(ctx, runtime, run, {
        json: parsed.json,
        title: `phys ${parsed.path.join(' ')} ${run.pipeline}`,
      }),
  };
  return Object.freeze(context);
}

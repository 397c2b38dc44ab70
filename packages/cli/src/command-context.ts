import type {
  CliCommandContext,
  CliDagRunResult,
  CliFormat,
  ExecuteResult,
  SerializedPhysError,
} from '@phys/core';
import type { PhysRuntime } from '@phys/runtime';
import type { CliContext } from './context.js';
import { formatCounts, formatDuration, formatNumber, table } from './format.js';
import { shapeSerializedError } from './report-error.js';
import { runDag } from './run-dag.js';

/** The host's formatting, as plugin commands get it. */
const format: CliFormat = Object.freeze({
  table,
  number: formatNumber,
  duration: formatDuration,
  counts: formatCounts,
});

/**
 * The run with its errors as the CLI shows errors in JSON (a foreign error under its own name;
 * stacks only when `verbose`), so that a plugin command's `--json` report agrees with
 * `phys run --json` and with docs/cli.md.
 */
function withErrorsShaped(outcome: CliDagRunResult, verbose: boolean): CliDagRunResult {
  const { result } = outcome;
  const nodes: Record<string, ExecuteResult['nodes'][string]> = {};
  for (const [id, node] of Object.entries(result.nodes)) {
    nodes[id] =
      node.error === undefined
        ? node
        : { ...node, error: shapeSerializedError(node.error, verbose) };
  }
  // An executor may add the run's first error to its result (executor-dag does).
  const error = (result as { error?: SerializedPhysError }).error;
  const shaped = {
    ...result,
    nodes,
    ...(error === undefined ? {} : { error: shapeSerializedError(error, verbose) }),
  };
  return { ...outcome, result: shaped };
}

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
    runDag: async (run) =>
      withErrorsShaped(
        await runDag(ctx, runtime, run, {
          json: parsed.json,
          title: `phys ${parsed.path.join(' ')} ${run.pipeline}`,
        }),
        ctx.verbose,
      ),
  };
  return Object.freeze(context);
}

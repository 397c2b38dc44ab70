// How `phys submit` and `phys runs` show orchestrated runs (RunRecord): the result summary as
// `phys run` prints it, the details of one run, and the table of many.
import {
  deserializeError,
  ExecutionStatus,
  isFailed,
  type NodeStatus,
  type RunRecord,
  type SerializedPhysError,
} from '@phys/core';
import type { CliContext } from './context.js';
import { ExitCode } from './exit-codes.js';
import { formatCounts, formatDuration, formatNumber, plural, stringify, table } from './format.js';
import { errorCode, formatError, shapeSerializedError } from './report-error.js';

// As in `phys run`: how many metric rows and failed nodes the summary shows before --json.
const MAX_METRIC_ROWS = 24;
const MAX_FAILED_NODES = 10;

/** The exit code of a terminal run, as `phys run` would have exited: 0, 1, or 130 cancelled. */
export function exitCodeOfRun(status: ExecutionStatus): number {
  if (status === ExecutionStatus.COMPLETED) return ExitCode.OK;
  if (status === ExecutionStatus.CANCELLED) return ExitCode.INTERRUPTED;
  return ExitCode.RUN_FAILED;
}

/** The record as `--json` prints it: errors shaped as the CLI prints errors (stacks when verbose). */
export function recordJson(record: RunRecord, verbose: boolean): RunRecord {
  const nodes =
    record.nodes === undefined
      ? undefined
      : Object.fromEntries(
          Object.entries(record.nodes).map(([id, node]) => [
            id,
            node.error === undefined
              ? node
              : { ...node, error: shapeSerializedError(node.error, verbose) },
          ]),
        );
  return {
    ...record,
    ...(nodes === undefined ? {} : { nodes }),
    ...(record.error === undefined ? {} : { error: shapeSerializedError(record.error, verbose) }),
  };
}

/** Prints `value` as the one JSON object of `--json`. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(stringify(value));
}

function countsOf(record: RunRecord): Partial<Record<NodeStatus, number>> {
  const counts: Partial<Record<NodeStatus, number>> = {};
  for (const node of Object.values(record.nodes ?? {})) {
    counts[node.status] = (counts[node.status] ?? 0) + 1;
  }
  return counts;
}

/**
 * Metric entries with those of the result nodes first. A DAG's outputs are keyed by its sink
 * nodes (what nothing depends on): their metrics are the answers, so they lead.
 */
function resultsFirst(record: RunRecord): [string, number][] {
  const entries = Object.entries(record.metrics ?? {});
  const sinks = Object.keys(record.outputs ?? {}).filter((id) => record.nodes?.[id] !== undefined);
  if (sinks.length === 0) return entries;
  const rank = (key: string) => {
    const i = sinks.findIndex((id) => key.startsWith(`${id}.`));
    return i === -1 ? sinks.length : i;
  };
  return entries.sort(([a], [b]) => rank(a) - rank(b));
}

function printError(ctx: CliContext, error: SerializedPhysError): void {
  ctx.err();
  for (const line of formatError(deserializeError(error), ctx.verbose)) ctx.err(line);
}

function printFailedNodes(ctx: CliContext, record: RunRecord): void {
  const failed = Object.entries(record.nodes ?? {}).filter(
    ([, n]) => n.error !== undefined && isFailed(n.status),
  );
  if (failed.length === 0) return;
  ctx.err();
  ctx.err(`failed nodes (${failed.length}):`);
  for (const [id, node] of failed.slice(0, MAX_FAILED_NODES)) {
    const attempts = node.attempts > 1 ? ` after ${node.attempts} attempts` : '';
    const error = deserializeError(node.error as SerializedPhysError);
    ctx.err(`  ${id} ${node.status}${attempts}: ${errorCode(error)} ${error.message}`);
  }
  if (failed.length > MAX_FAILED_NODES) {
    ctx.err(`  ... and ${failed.length - MAX_FAILED_NODES} more (see --json)`);
  }
}

function printMetrics(ctx: CliContext, record: RunRecord): void {
  const metrics = resultsFirst(record);
  if (metrics.length === 0) return;
  ctx.out();
  const rows = metrics.slice(0, MAX_METRIC_ROWS).map(([k, v]) => [k, formatNumber(v)]);
  for (const line of table([['metric', 'value'], ...rows], ['left', 'right'])) {
    ctx.out(`  ${line}`);
  }
  if (metrics.length > MAX_METRIC_ROWS) {
    ctx.out(`  ... and ${metrics.length - MAX_METRIC_ROWS} more metrics (see --json)`);
  }
}

/** The summary of a terminal run, as `phys run` prints its result. */
export function printRunSummary(ctx: CliContext, record: RunRecord): void {
  const ok = record.status === ExecutionStatus.COMPLETED;
  const size = plural(Object.keys(record.nodes ?? {}).length, 'node');
  const attempts = record.attempt > 1 ? `, attempt ${record.attempt} of ${record.maxAttempts}` : '';
  ctx.out(
    `${ok ? '✓' : '✗'} ${record.pipeline}: ${record.status} in ${formatDuration(record.durationSeconds ?? 0)} (${size}${attempts})`,
  );
  ctx.out(`  run ${record.jobId}`);
  if (record.nodes !== undefined) ctx.out(`  nodes: ${formatCounts(countsOf(record))}`);
  if (record.error !== undefined) printError(ctx, record.error);
  printFailedNodes(ctx, record);
  printMetrics(ctx, record);
}

function when(iso: string | undefined): string {
  if (iso === undefined) return '-';
  // `2026-06-01 12:03:04Z`: sortable, and short enough for a table.
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** One run in full: what `phys runs show` prints. */
export function printRunDetails(ctx: CliContext, record: RunRecord): void {
  const rows: [string, string][] = [
    ['run', record.jobId],
    ['pipeline', record.pipeline],
    ['status', record.status],
    ['attempt', `${record.attempt} of ${record.maxAttempts}`],
    ['priority', String(record.priority)],
    [
      'trigger',
      record.trigger === undefined
        ? '-'
        : record.trigger.kind === 'schedule'
          ? `schedule ${record.trigger.schedule} at ${when(record.trigger.fireTime)}`
          : `${record.trigger.kind}${record.trigger.by === undefined ? '' : ` by ${record.trigger.by}`}`,
    ],
    ['submitted', when(record.submittedAt)],
    ['started', when(record.startedAt)],
    ['finished', when(record.finishedAt)],
    [
      'duration',
      record.durationSeconds === undefined ? '-' : formatDuration(record.durationSeconds),
    ],
    ['params', Object.keys(record.params).length === 0 ? '{}' : JSON.stringify(record.params)],
  ];
  for (const line of table(rows)) ctx.out(line);
  const nodes = Object.entries(record.nodes ?? {});
  if (nodes.length > 0) {
    ctx.out();
    const nodeRows = nodes.map(([id, node]) => [
      id,
      node.status,
      String(node.attempts),
      node.durationSeconds === undefined ? '-' : formatDuration(node.durationSeconds),
    ]);
    const lines = table(
      [['node', 'status', 'attempts', 'duration'], ...nodeRows],
      ['left', 'left', 'right', 'right'],
    );
    for (const line of lines) ctx.out(`  ${line}`);
  }
  if (record.error !== undefined) printError(ctx, record.error);
  printFailedNodes(ctx, record);
  printMetrics(ctx, record);
}

/** Runs as a table, newest first: what `phys runs ls` prints. */
export function printRunTable(ctx: CliContext, runs: readonly RunRecord[]): void {
  const rows = runs.map((run) => [
    run.jobId,
    run.pipeline,
    run.status,
    String(run.attempt),
    when(run.submittedAt),
    run.durationSeconds === undefined ? '-' : formatDuration(run.durationSeconds),
  ]);
  const lines = table(
    [['run', 'pipeline', 'status', 'attempt', 'submitted', 'duration'], ...rows],
    ['left', 'left', 'left', 'right', 'left', 'right'],
  );
  for (const line of lines) ctx.out(line);
}

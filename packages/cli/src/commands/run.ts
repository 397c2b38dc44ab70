import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  type DagPipelineDeclaration,
  deserializeError,
  type ExecuteResult,
  ExecutionStatus,
  isFailed,
  type NamedPipeline,
  type NodeStatus,
  PhysError,
  type PipelineHook,
  type SerializedPhysError,
  UsageError,
} from '@phys/core';
import {
  type ExecuteContext,
  FileArtifactRecorder,
  LocalOrchestrator,
  type PhysRuntime,
  type RunOutcome,
  toJsonSafe,
} from '@phys/runtime';
import type { RunOptions } from '../cli.js';
import type { CliContext } from '../context.js';
import { exitCodeFor } from '../exit-code-for.js';
import { ExitCode } from '../exit-codes.js';
import { formatDuration, formatNumber, plural, stringify, table, toJsonValue } from '../format.js';
import { journal, journalling } from '../journal.js';
import { withRuntime } from '../open-runtime.js';
import { createProgress, formatCounts, type ProgressReporter } from '../progress.js';
import {
  errorCode,
  errorToJson,
  formatError,
  hasForeignError,
  STACKS_HINT,
  shapeSerializedError,
} from '../report-error.js';
import { runDag } from '../run-dag.js';

/** What `phys run --json` prints. */
export interface RunReport {
  readonly pipeline: string;
  readonly kind: 'sequential' | 'dag';
  readonly runId: string;
  readonly status: ExecutionStatus;
  readonly durationSeconds: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts: unknown;
  /** Sequential: the final state. DAG: the executor's outputs. Large arrays are previews. */
  readonly outputs: unknown;
  /** DAG only: every node's status, attempts and error. */
  readonly nodes?: ExecuteResult['nodes'];
  readonly counts?: Readonly<Partial<Record<NodeStatus, number>>>;
  readonly error?: SerializedPhysError;
  readonly exitCode: number;
}

// How many metric rows and failed nodes the human summary shows before pointing at --json.
const MAX_METRIC_ROWS = 24;
const MAX_FAILED_NODES = 10;

/** Parses `--set key=value`; the value is JSON when it parses as JSON, else the plain string. */
export function parseOverrides(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new UsageError(
        `--set expects key=value, got '${pair}'. Examples: --set sampling.N=1000, --set solver=rk4 (a value that is not JSON is taken as a string).`,
      );
    }
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // Not JSON: a bare word such as `fast` is meant as a string.
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

function progressFor(
  ctx: CliContext,
  options: RunOptions,
  title: string,
  total: number,
): ProgressReporter | undefined {
  if (options.json === true || options.progress === 'none') return undefined;
  const live = options.progress === 'live' || (options.progress === 'auto' && ctx.isTTY);
  return createProgress({ stream: ctx.stderr, live, title, total });
}

/** Feeds a sequential run's step hooks to the progress display, as node events. */
function progressHook(total: number, reporter: ProgressReporter): PipelineHook {
  const counts: Partial<Record<NodeStatus, number>> = { QUEUED: total };
  const move = (from: NodeStatus, to: NodeStatus) => {
    counts[from] = Math.max(0, (counts[from] ?? 0) - 1);
    counts[to] = (counts[to] ?? 0) + 1;
  };
  return {
    name: 'phys-cli-progress',
    onStepStart(event) {
      move('QUEUED', 'RUNNING');
      reporter.onProgress({ node: event.step, status: 'RUNNING', counts: { ...counts }, total });
    },
    onStepEnd(event) {
      move('RUNNING', event.status);
      reporter.onProgress({ node: event.step, status: event.status, counts: { ...counts }, total });
    },
  };
}

/**
 * The environment variable through which `--metrics-port` reaches the metrics plugin: the CLI
 * does not depend on that plugin, which reads it when it starts (`@phys/metrics-prometheus`
 * exports the same name as `METRICS_PORT_ENV`).
 */
export const METRICS_PORT_ENV = 'PHYS_METRICS_PORT';

/** Parses `--metrics-port`. */
export function parseMetricsPort(raw: string): number {
  const port = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(port) || port > 65535) {
    throw new UsageError(
      `--metrics-port expects a port number from 0 to 65535 (0 takes any free port), got '${raw}'.`,
    );
  }
  return port;
}

/**
 * Runs `body` with {@link METRICS_PORT_ENV} set to `port` (when given) for the plugins that start
 * meanwhile, and fails with a hint when no plugin of the config provides metrics.
 */
async function withMetricsPort<T>(
  port: number | undefined,
  body: (check: (runtime: PhysRuntime) => void) => Promise<T>,
): Promise<T> {
  if (port === undefined) return body(() => {});
  const before = process.env[METRICS_PORT_ENV];
  process.env[METRICS_PORT_ENV] = String(port);
  try {
    return await body((runtime) => {
      if (runtime.plugins.some((p) => p.provides?.includes('metrics'))) return;
      throw new UsageError(
        `--metrics-port ${port}: no plugin of ${runtime.configFile ?? 'the config'} serves metrics. Add 'metrics-prometheus' to its plugins (install it with \`pnpm add @phys/metrics-prometheus\`), or leave out --metrics-port.`,
      );
    });
  } finally {
    if (before === undefined) delete process.env[METRICS_PORT_ENV];
    else process.env[METRICS_PORT_ENV] = before;
  }
}

/** `phys run <pipeline>`: runs a sequential pipeline or, through the executor plugin, a DAG. */
export async function runCommand(
  ctx: CliContext,
  name: string,
  options: RunOptions,
): Promise<number> {
  const overrides = parseOverrides(options.set);
  const metricsPort =
    options.metricsPort === undefined ? undefined : parseMetricsPort(options.metricsPort);
  return withMetricsPort(metricsPort, (checkMetrics) =>
    withRuntime(ctx, options, 'run', async (runtime) => {
      checkMetrics(runtime);
      const declaration = runtime.pipeline(name);
      const runId = randomUUID();
      const policy = Object.keys(overrides).length === 0 ? undefined : overrides;
      const { report, failure, sinks } = await orchestrated(
        ctx,
        runtime,
        name,
        runId,
        overrides,
        (signal) =>
          declaration.kind === 'dag'
            ? runDagPipeline(ctx, runtime, name, declaration, {
                ...options,
                runId,
                policy,
                signal,
              })
            : runSequential(
                ctx,
                runtime,
                name,
                declaration.stages.map((stage) => stage.label),
                { ...options, runId, policy, signal },
              ),
      );
      if (options.json === true) ctx.out(stringify(withNodeErrorsShaped(report, ctx.verbose)));
      else printSummary(ctx, report, runtime, failure, sinks ?? []);
      return report.exitCode;
    }),
  );
}

/** The record a run of `phys run` leaves, from its report. */
function runOutcomeOf(report: RunReport): RunOutcome {
  const outputs = toJsonSafe(report.outputs);
  return {
    status: report.status as RunOutcome['status'],
    durationSeconds: report.durationSeconds,
    outputs:
      typeof outputs === 'object' && outputs !== null && !Array.isArray(outputs)
        ? (outputs as Record<string, unknown>)
        : outputs === undefined || outputs === null
          ? {}
          : { value: outputs },
    metrics: report.metrics,
    nodes: report.nodes ?? {},
    artifacts: {},
    ...(report.error === undefined ? {} : { error: report.error }),
  };
}

/**
 * Runs `body` as the one run of a {@link LocalOrchestrator} (QUEUED → RUNNING → terminal, as
 * every orchestrated run), whose execute step is `phys run`'s own: progress, journal, report and
 * Ctrl-C stay what they are. The run is stopped by the CLI's signal or a cancel of the run.
 * Errors that are not run failures (config, usage, bugs) are thrown as they were.
 */
async function orchestrated(
  ctx: CliContext,
  runtime: PhysRuntime,
  name: string,
  runId: string,
  params: Readonly<Record<string, unknown>>,
  body: (signal: AbortSignal | undefined) => Promise<Outcome>,
): Promise<Outcome> {
  let outcome: Outcome | undefined;
  let thrown: { readonly error: unknown } | undefined;
  class CliRun extends LocalOrchestrator {
    protected override async execute(
      _pipeline: NamedPipeline,
      _runId: string,
      context: ExecuteContext,
    ): Promise<RunOutcome> {
      const signal =
        ctx.signal === undefined ? context.signal : AbortSignal.any([ctx.signal, context.signal]);
      try {
        outcome = await body(signal);
      } catch (error) {
        thrown = { error };
        throw error;
      }
      return runOutcomeOf(outcome.report);
    }
  }
  const orchestrator = new CliRun(runtime);
  try {
    const run = await orchestrator.runPipeline(name, {
      runId,
      params,
      trigger: { kind: 'cli' },
    });
    await run.waitForCompletion({ timeout: Number.POSITIVE_INFINITY });
  } finally {
    await orchestrator.close();
  }
  if (thrown !== undefined) throw thrown.error;
  if (outcome === undefined) {
    throw new PhysError('PHYS_INTERNAL', `Run '${runId}' of '${name}' ended without a result.`);
  }
  return outcome;
}

/** A report, and what only the human summary needs. */
interface Outcome {
  readonly report: RunReport;
  /** The error that failed a sequential run (printed with its causes). */
  readonly failure?: unknown;
  /** DAG nodes nothing depends on: their metrics are the results, so they are shown first. */
  readonly sinks?: readonly string[];
}

function sinksOf(nodes: DagPipelineDeclaration['nodes']): string[] {
  const used = new Set<string>();
  for (const node of nodes) for (const dep of node.deps ?? []) used.add(dep);
  return nodes.filter((n) => !used.has(n.id)).map((n) => n.id);
}

/** Metric entries with those of the sink nodes first, otherwise in run order. */
function resultsFirst(
  metrics: Readonly<Record<string, number>>,
  sinks: readonly string[],
): [string, number][] {
  const entries = Object.entries(metrics);
  if (sinks.length === 0) return entries;
  const rank = (key: string) => {
    const i = sinks.findIndex((id) => key.startsWith(`${id}.`));
    return i === -1 ? sinks.length : i;
  };
  // Array.prototype.sort is stable: within a rank the run order is kept.
  return entries.sort(([a], [b]) => rank(a) - rank(b));
}

interface RunArgs extends RunOptions {
  readonly runId: string;
  readonly policy: Readonly<Record<string, unknown>> | undefined;
  /** Stops the run: the CLI's signal, or a cancel of the orchestrated run. */
  readonly signal: AbortSignal | undefined;
}

/**
 * Records what each stage of a sequential run ended with, for the report of a run that did not
 * complete (its partial result), and tells the run host (see journal.ts) as it goes.
 */
function outcomeHook(
  labels: readonly string[],
  nodes: Record<string, { status: NodeStatus; attempts: number; metrics?: Record<string, number> }>,
): PipelineHook {
  for (const label of labels) nodes[label] = { status: 'QUEUED', attempts: 0 };
  return {
    name: 'phys-cli-outcome',
    onStepStart(event) {
      nodes[event.step] = { status: 'RUNNING', attempts: 1 };
      if (journalling()) journal({ type: 'node', id: event.step, status: 'RUNNING' });
    },
    onStepEnd(event) {
      const metrics = (event.outputs as { metrics?: Record<string, number> } | undefined)?.metrics;
      nodes[event.step] = {
        status: event.status,
        attempts: 1,
        ...(metrics === undefined ? {} : { metrics: { ...metrics } }),
      };
      if (journalling()) {
        journal({
          type: 'node',
          id: event.step,
          status: event.status,
          ...(metrics === undefined ? {} : { metrics }),
        });
      }
    },
  };
}

async function runSequential(
  ctx: CliContext,
  runtime: PhysRuntime,
  name: string,
  labels: readonly string[],
  args: RunArgs,
): Promise<Outcome> {
  const stages = labels.length;
  const reporter = progressFor(ctx, args, `phys run ${name}`, stages);
  const started = performance.now();
  if (journalling()) {
    journal({
      type: 'run',
      pipeline: name,
      kind: 'sequential',
      runId: args.runId,
      json: args.json === true,
      nodes: labels,
    });
  }
  const stageOutcomes: Record<
    string,
    { status: NodeStatus; attempts: number; metrics?: Record<string, number> }
  > = {};
  const hooks = [
    outcomeHook(labels, stageOutcomes),
    ...(reporter === undefined ? [] : [progressHook(stages, reporter)]),
  ];
  try {
    const result = await runtime.runPipeline(name, {
      runId: args.runId,
      ...(args.signal === undefined ? {} : { signal: args.signal }),
      ...(args.policy === undefined ? {} : { policy: args.policy }),
      hooks,
      ...(args.record === undefined
        ? {}
        : {
            recordArtifacts: true,
            recorder: new FileArtifactRecorder(resolve(ctx.cwd, args.record)),
          }),
    });
    reporter?.stop();
    const report: RunReport = {
      pipeline: name,
      kind: 'sequential',
      runId: result.runId,
      status: ExecutionStatus.COMPLETED,
      durationSeconds: (performance.now() - started) / 1000,
      metrics: result.metrics,
      artifacts: toJsonValue(result.artifacts),
      outputs: toJsonValue(result.state),
      exitCode: ExitCode.OK,
    };
    return { report };
  } catch (error) {
    reporter?.stop();
    // Config and usage problems, and bugs, are not run failures: runCli reports them.
    const code = exitCodeFor(error);
    if (!PhysError.is(error) || (code !== ExitCode.RUN_FAILED && code !== ExitCode.INTERRUPTED)) {
      throw error;
    }
    // Whatever a stage threw once the run was interrupted, the run was cancelled.
    const cancelled = error.code === 'PHYS_CANCELLED' || args.signal?.aborted === true;
    // The partial result: what the stages that completed measured, and how each stage ended.
    const metrics: Record<string, number> = {};
    const nodes: Record<string, { status: NodeStatus; attempts: number }> = {};
    const counts: Partial<Record<NodeStatus, number>> = {};
    for (const [label, outcome] of Object.entries(stageOutcomes)) {
      const status: NodeStatus =
        outcome.status === 'QUEUED' || outcome.status === 'RUNNING'
          ? cancelled
            ? 'CANCELLED'
            : outcome.status === 'QUEUED'
              ? 'SKIPPED'
              : 'FAILED'
          : outcome.status;
      nodes[label] = { status, attempts: outcome.attempts };
      counts[status] = (counts[status] ?? 0) + 1;
      if (status !== 'COMPLETED') continue;
      for (const [key, value] of Object.entries(outcome.metrics ?? {})) {
        metrics[`${label}.${key}`] = value;
      }
    }
    const report: RunReport = {
      pipeline: name,
      kind: 'sequential',
      runId: args.runId,
      status: cancelled ? ExecutionStatus.CANCELLED : ExecutionStatus.FAILED,
      durationSeconds: (performance.now() - started) / 1000,
      metrics,
      artifacts: {},
      outputs: null,
      nodes: nodes as NonNullable<RunReport['nodes']>,
      counts,
      error: errorToJson(error, ctx.verbose),
      exitCode: cancelled ? ExitCode.INTERRUPTED : ExitCode.RUN_FAILED,
    };
    return { report, failure: error };
  }
}

async function runDagPipeline(
  ctx: CliContext,
  runtime: PhysRuntime,
  name: string,
  declaration: DagPipelineDeclaration,
  args: RunArgs,
): Promise<Outcome> {
  const started = performance.now();
  const { result, counts, exitCode } = await runDag(
    ctx,
    runtime,
    {
      pipeline: name,
      nodes: declaration.nodes,
      initialState: declaration.initialState,
      policy: { ...declaration.policy, ...args.policy },
      progress: args.progress,
      ...(args.record === undefined ? {} : { recordDir: args.record }),
    },
    {
      json: args.json === true,
      title: `phys run ${name}`,
      runId: args.runId,
      ...(args.signal === undefined ? {} : { signal: args.signal }),
    },
  );
  const report: RunReport = {
    pipeline: name,
    kind: 'dag',
    runId: args.runId,
    status: result.status,
    durationSeconds: result.durationSeconds ?? (performance.now() - started) / 1000,
    metrics: result.metrics,
    artifacts: toJsonValue(result.artifacts),
    outputs: toJsonValue(result.outputs),
    nodes: result.nodes,
    counts,
    exitCode,
  };
  return { report, sinks: sinksOf(declaration.nodes) };
}

/** The report with its nodes' errors as the CLI prints errors in JSON (stacks only when verbose). */
function withNodeErrorsShaped(report: RunReport, verbose: boolean): RunReport {
  if (report.nodes === undefined) return report;
  const nodes: Record<string, ExecuteResult['nodes'][string]> = {};
  for (const [id, node] of Object.entries(report.nodes)) {
    nodes[id] =
      node.error === undefined
        ? node
        : { ...node, error: shapeSerializedError(node.error, verbose) };
  }
  return { ...report, nodes };
}

function printSummary(
  ctx: CliContext,
  report: RunReport,
  runtime: PhysRuntime,
  failure: unknown,
  sinks: readonly string[],
): void {
  const ok = report.status === ExecutionStatus.COMPLETED;
  const size =
    report.kind === 'dag'
      ? plural(Object.keys(report.nodes ?? {}).length, 'node')
      : plural(
          (runtime.pipeline(report.pipeline) as { stages: readonly unknown[] }).stages.length,
          'stage',
        );
  ctx.out(
    `${ok ? '✓' : '✗'} ${report.pipeline}: ${report.status} in ${formatDuration(report.durationSeconds)} (${report.kind}, ${size})`,
  );
  ctx.out(`  run ${report.runId}`);
  if (report.counts !== undefined) {
    ctx.out(`  ${report.kind === 'dag' ? 'nodes' : 'stages'}: ${formatCounts(report.counts)}`);
  }

  if (failure !== undefined) {
    ctx.err();
    for (const line of formatError(failure, ctx.verbose)) ctx.err(line);
  }
  if (report.nodes !== undefined) {
    const failed = Object.entries(report.nodes).filter(
      ([, n]) => n.error !== undefined && isFailed(n.status),
    );
    if (failed.length > 0) {
      ctx.err();
      ctx.err(`failed nodes (${failed.length}):`);
      let hidden = false;
      for (const [id, node] of failed.slice(0, MAX_FAILED_NODES)) {
        const attempts = node.attempts > 1 ? ` after ${node.attempts} attempts` : '';
        const error = deserializeError(node.error as SerializedPhysError);
        ctx.err(`  ${id} ${node.status}${attempts}: ${errorCode(error)} ${error.message}`);
        // Verbose: the node's stack and every cause with its stack, below its line.
        if (ctx.verbose) for (const line of formatError(error, true).slice(1)) ctx.err(`  ${line}`);
        hidden ||= hasForeignError(error);
      }
      if (failed.length > MAX_FAILED_NODES) {
        ctx.err(`  ... and ${failed.length - MAX_FAILED_NODES} more (see --json)`);
      }
      if (hidden && !ctx.verbose) ctx.err(`  ${STACKS_HINT}`);
    }
  }

  const metrics = resultsFirst(report.metrics, sinks);
  if (metrics.length > 0) {
    ctx.out();
    const rows = metrics.slice(0, MAX_METRIC_ROWS).map(([k, v]) => [k, formatNumber(v)]);
    for (const line of table([['metric', 'value'], ...rows], ['left', 'right']))
      ctx.out(`  ${line}`);
    if (metrics.length > MAX_METRIC_ROWS) {
      ctx.out(`  ... and ${metrics.length - MAX_METRIC_ROWS} more metrics (see --json)`);
    }
  }
  const recorded = recordedArtifacts(report.artifacts);
  if (recorded.length > 0) {
    ctx.out();
    ctx.out('  artifacts:');
    for (const [key, path] of recorded) ctx.out(`    ${key}  ${path}`);
  }
}

function recordedArtifacts(artifacts: unknown): [string, string][] {
  if (typeof artifacts !== 'object' || artifacts === null) return [];
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(artifacts)) {
    const path = (value as { path?: unknown } | null)?.path;
    if (typeof path === 'string') out.push([key, path]);
  }
  return out;
}

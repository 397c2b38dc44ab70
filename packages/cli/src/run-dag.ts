import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import {
  type CliDagRun,
  type CliDagRunResult,
  ConfigError,
  type ExecuteResult,
  ExecutionStatus,
  ExecutorToken,
  type NodeStatus,
  type ProgressEvent,
} from '@phys/core';
import { FileArtifactRecorder, type PhysRuntime } from '@phys/runtime';
import type { CliContext } from './context.js';
import { ExitCode } from './exit-codes.js';
import { journal, journalling } from './journal.js';
import type { ProgressReporter } from './progress.js';

/** How the host runs a DAG besides what the command asked for. */
export interface DagRunSettings {
  /** `--json`: no progress display. */
  readonly json: boolean;
  /** Header of the live display when the run has none. */
  readonly title: string;
  /** The run id (default a fresh UUID). */
  readonly runId?: string;
  /** Stops the run (default: the CLI's signal). */
  readonly signal?: AbortSignal;
}

async function progressFor(
  ctx: CliContext,
  run: CliDagRun,
  settings: DagRunSettings,
): Promise<ProgressReporter | undefined> {
  const mode = run.progress ?? 'auto';
  if (settings.json || mode === 'none') return undefined;
  // The renderer (log-update) is loaded only by runs that show progress.
  const { createProgress } = await import('./progress.js');
  return createProgress({
    stream: ctx.stderr,
    live: mode === 'live' || (mode === 'auto' && ctx.isTTY),
    title: run.title ?? settings.title,
    total: run.nodes.length,
  });
}

/**
 * Runs a DAG through the executor the config provides, with progress on stderr, cancelled by
 * the CLI's signal: `phys run` on a DAG pipeline, and `runDag` of plugin commands.
 */
export async function runDag(
  ctx: CliContext,
  runtime: PhysRuntime,
  run: CliDagRun,
  settings: DagRunSettings,
): Promise<CliDagRunResult> {
  if (!runtime.isRegistered(ExecutorToken)) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Pipeline '${run.pipeline}' is a DAG, but no plugin in ${runtime.configFile ?? 'the config'} provides an executor. Add one to plugins, e.g. plugins: ['executor-dag'] (package @phys/executor-dag).`,
      { issues: [{ path: 'plugins', message: 'no plugin provides the executor capability' }] },
    );
  }
  const executor = runtime.resolve(ExecutorToken);
  const runId = settings.runId ?? randomUUID();
  const declared = run.initialState;
  const initialState =
    typeof declared === 'function' ? await (declared as () => unknown)() : declared;
  const reporter = await progressFor(ctx, run, settings);
  // The run host hears of every node as the display does (see journal.ts).
  const journalled = journalling();
  if (journalled) {
    journal({
      type: 'run',
      pipeline: run.pipeline,
      kind: 'dag',
      runId,
      json: settings.json,
      nodes: run.nodes.map((node) => node.id),
    });
  }
  const signal = settings.signal ?? ctx.signal;
  const onProgress =
    reporter === undefined && !journalled
      ? undefined
      : (e: ProgressEvent): void => {
          reporter?.onProgress(e);
          if (journalled) journal({ type: 'node', id: e.node, status: e.status });
        };
  let result: ExecuteResult;
  try {
    result = await executor.execute({
      pipeline: run.pipeline,
      nodes: run.nodes,
      initialState,
      container: runtime.container,
      runId,
      policy: { ...runtime.config.policy, ...run.policy },
      ...(signal === undefined ? {} : { signal }),
      ...(onProgress === undefined ? {} : { onProgress }),
      ...(run.recordDir === undefined
        ? {}
        : {
            recordArtifacts: true,
            recorder: new FileArtifactRecorder(resolve(ctx.cwd, run.recordDir)),
          }),
    });
  } finally {
    reporter?.stop();
  }
  const counts: Partial<Record<NodeStatus, number>> = {};
  for (const node of Object.values(result.nodes)) {
    counts[node.status] = (counts[node.status] ?? 0) + 1;
  }
  const interrupted = result.status === ExecutionStatus.CANCELLED && ctx.signal?.aborted === true;
  const exitCode =
    result.status === ExecutionStatus.COMPLETED
      ? ExitCode.OK
      : interrupted
        ? ExitCode.INTERRUPTED
        : ExitCode.RUN_FAILED;
  return { runId, result, counts, exitCode };
}

import {
  ConfigError,
  type DagPipelineDeclaration,
  type ExecuteResult,
  ExecutionStatus,
  ExecutorToken,
  isTerminal,
  type Logger,
  LoggerToken,
  type NamedPipeline,
  type NodeStatus,
  PhysError,
  type PipelineHook,
  type RunNodeRecord,
  type SequentialPipelineDeclaration,
  type SerializedPhysError,
  serializeError,
} from '@phys/core';
import type { DependencyContainer } from '../container.js';
import { runSequentialDeclaration } from '../pipeline/run-declared.js';
import type { PhysRuntime } from '../runtime.js';
import { outputsOf, toJsonSafe } from './json-safe.js';

/** A log line of a run, as {@link ExecuteRunOptions.onLog} hears it. @public */
export interface RunLogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  /** The node or stage that logged it, when known. */
  readonly node?: string;
}

/** Options of {@link executeRun}. @public */
export interface ExecuteRunOptions {
  /** The pipeline: a declaration with its name (`{ ...runtime.pipeline(name), name }`). */
  readonly pipeline: NamedPipeline;
  /**
   * The run id handed to the executor and stages. Keep it across attempts of one run: node
   * identities stay the same, so a retry restores finished nodes from the cache.
   */
  readonly runId: string;
  /** The attempt (1-based), for records and logs. */
  readonly attempt: number;
  /** Laid over the config's and the pipeline's `policy` (later keys win), as `phys run --set`. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Aborts the run: running nodes are aborted, threads and processes terminated, jobs cancelled. */
  readonly signal?: AbortSignal;
  /** Every node (or sequential stage) status change, in order. */
  readonly onNode?: (node: string, status: NodeStatus) => void;
  /** Log lines of the run (info and above). */
  readonly onLog?: (line: RunLogLine) => void;
  /** Extra hooks of a sequential run, after the plugins'. */
  readonly hooks?: readonly PipelineHook[];
}

/** How one attempt of a run ended. Everything but `artifacts` is plain JSON. @public */
export interface RunOutcome {
  readonly status: Exclude<ExecutionStatus, 'QUEUED' | 'RUNNING'>;
  readonly durationSeconds: number;
  /**
   * The pipeline's declared outputs (a DAG's sink outputs, a sequential pipeline's final state;
   * a final state that is not an object as `{ value }`), JSON-safe with artifact references.
   */
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly nodes: Readonly<Record<string, RunNodeRecord>>;
  /** The run's artifacts as the run returned them (references once recorded). */
  readonly artifacts: Readonly<Record<string, unknown>>;
  /** Why the run did not complete. */
  readonly error?: SerializedPhysError;
}

const LEVELS = ['info', 'warn', 'error'] as const;

/** A logger that logs to `base` and hands lines of info and above to `onLog`. */
function teeLogger(
  base: Logger,
  onLog: (line: RunLogLine) => void,
  fields: Readonly<Record<string, unknown>> = {},
): Logger {
  const node = (extra: Readonly<Record<string, unknown>> | undefined): string | undefined => {
    const all = { ...fields, ...extra };
    const named = all.node ?? all.nodeId ?? all.step;
    return typeof named === 'string' ? named : undefined;
  };
  const forward =
    (level: (typeof LEVELS)[number]) =>
    (message: string, extra?: Readonly<Record<string, unknown>>): void => {
      base[level](message, extra);
      const at = node(extra);
      try {
        onLog({ level, message, ...(at === undefined ? {} : { node: at }) });
      } catch {
        // A listener's failure never breaks the run.
      }
    };
  return {
    debug: (message, extra) => base.debug(message, extra),
    info: forward('info'),
    warn: forward('warn'),
    error: forward('error'),
    child: (more) => teeLogger(base.child(more), onLog, { ...fields, ...more }),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Runs ONE attempt of a declared pipeline, as `phys run` does: a sequential pipeline in this
 * process with the plugins' hooks and metrics collectors, a DAG through the executor a plugin
 * provides (`ExecutorToken`). Never throws: a failure, a cancellation (through `signal`) or a
 * problem of the config ends in the outcome's `status` and `error`.
 * @public
 */
export async function executeRun(
  runtime: PhysRuntime,
  options: ExecuteRunOptions,
): Promise<RunOutcome> {
  const started = performance.now();
  const seconds = (): number => (performance.now() - started) / 1000;
  const { pipeline, signal } = options;
  const aborted = (): boolean => signal?.aborted === true;
  try {
    if (pipeline.kind === 'dag') return await runDag(runtime, pipeline, options, seconds);
    return await runSequential(runtime, pipeline, options, seconds);
  } catch (error) {
    // Only problems before any stage ran get here (a bad config, no executor).
    return {
      status: aborted() ? ExecutionStatus.CANCELLED : ExecutionStatus.FAILED,
      durationSeconds: seconds(),
      outputs: {},
      metrics: {},
      nodes: {},
      artifacts: {},
      error: serializeError(error),
    };
  }
}

async function runSequential(
  runtime: PhysRuntime,
  pipeline: NamedPipeline & SequentialPipelineDeclaration,
  options: ExecuteRunOptions,
  seconds: () => number,
): Promise<RunOutcome> {
  const nodes: Record<string, RunNodeRecord> = {};
  for (const stage of pipeline.stages) nodes[stage.label] = { status: 'QUEUED', attempts: 0 };
  const tell = (node: string, status: NodeStatus): void => {
    try {
      options.onNode?.(node, status);
    } catch {
      // A listener's failure never breaks the run.
    }
  };
  const outcomeHook: PipelineHook = {
    name: 'phys-orchestrator',
    onStepStart(event) {
      nodes[event.step] = { status: 'RUNNING', attempts: event.attempt };
      tell(event.step, 'RUNNING');
    },
    onStepEnd(event) {
      nodes[event.step] = {
        status: event.status,
        attempts: event.attempt,
        durationSeconds: event.durationSeconds,
      };
      tell(event.step, event.status);
    },
  };
  const logger =
    options.onLog === undefined
      ? runtime.logger
      : teeLogger(runtime.logger, options.onLog, { runId: options.runId });
  try {
    const result = await runSequentialDeclaration(runtime, pipeline.name, pipeline, {
      runId: options.runId,
      logger,
      hooks: [outcomeHook, ...(options.hooks ?? [])],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.params === undefined ? {} : { policy: options.params }),
    });
    return {
      status: ExecutionStatus.COMPLETED,
      durationSeconds: seconds(),
      outputs: outputsOf(result.state),
      metrics: { ...result.metrics },
      nodes,
      artifacts: result.artifacts,
    };
  } catch (error) {
    const cancelled =
      options.signal?.aborted === true || (PhysError.is(error) && error.code === 'PHYS_CANCELLED');
    const timedOut = !cancelled && PhysError.is(error) && error.code === 'PHYS_TIMEOUT';
    const serialized = serializeError(error);
    // How each stage ended: the one running failed (or was cancelled), those after it never ran.
    for (const [label, node] of Object.entries(nodes)) {
      if (node.status === 'FAILED' && node.error === undefined) {
        // The stage that failed the run (its end event carries no error).
        nodes[label] = { ...node, error: serialized };
        continue;
      }
      if (isTerminal(node.status)) continue;
      const status: NodeStatus = cancelled
        ? 'CANCELLED'
        : node.status === 'RUNNING'
          ? 'FAILED'
          : 'SKIPPED';
      nodes[label] = {
        ...node,
        status,
        ...(node.status === 'RUNNING' ? { error: serialized } : {}),
      };
      tell(label, status);
    }
    return {
      status: cancelled
        ? ExecutionStatus.CANCELLED
        : timedOut
          ? ExecutionStatus.TIMEOUT
          : ExecutionStatus.FAILED,
      durationSeconds: seconds(),
      outputs: {},
      metrics: {},
      nodes,
      artifacts: {},
      error: serialized,
    };
  }
}

async function runDag(
  runtime: PhysRuntime,
  pipeline: NamedPipeline & DagPipelineDeclaration,
  options: ExecuteRunOptions,
  seconds: () => number,
): Promise<RunOutcome> {
  if (!runtime.isRegistered(ExecutorToken)) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Pipeline '${pipeline.name}' is a DAG, but no plugin in ${runtime.configFile ?? 'the config'} provides an executor. Add one to plugins, e.g. plugins: ['executor-dag'] (package @phys/executor-dag).`,
      { issues: [{ path: 'plugins', message: 'no plugin provides the executor capability' }] },
    );
  }
  const executor = runtime.resolve(ExecutorToken);
  const declared = pipeline.initialState;
  const initialState =
    typeof declared === 'function' ? await (declared as () => unknown)() : declared;
  const startedAt = new Map<string, number>();
  const durations = new Map<string, number>();
  const onProgress = (event: { node: string; status: NodeStatus }): void => {
    if (event.status === 'RUNNING') startedAt.set(event.node, performance.now());
    else if (isTerminal(event.status)) {
      const from = startedAt.get(event.node);
      if (from !== undefined) durations.set(event.node, (performance.now() - from) / 1000);
    }
    try {
      options.onNode?.(event.node, event.status);
    } catch {
      // A listener's failure never breaks the run.
    }
  };
  // The run's log lines: the executor logs through the container's logger, so the run gets a
  // child container whose logger also tells onLog.
  let container: DependencyContainer = runtime.container;
  if (options.onLog !== undefined) {
    container = runtime.container.createChildContainer();
    container.register(LoggerToken, {
      useValue: teeLogger(runtime.logger, options.onLog, { runId: options.runId }),
    });
  }
  let result: ExecuteResult;
  try {
    result = await executor.execute({
      pipeline: pipeline.name,
      nodes: pipeline.nodes,
      initialState,
      container,
      runId: options.runId,
      policy: { ...runtime.config.policy, ...pipeline.policy, ...options.params },
      onProgress,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } finally {
    if (container !== runtime.container) await container.dispose();
  }
  const nodes: Record<string, RunNodeRecord> = {};
  for (const [id, node] of Object.entries(result.nodes)) {
    const duration = durations.get(id);
    nodes[id] = {
      status: node.status,
      attempts: node.attempts,
      ...(duration === undefined ? {} : { durationSeconds: duration }),
      ...(node.error === undefined ? {} : { error: node.error }),
    };
  }
  const status = result.status;
  const terminal: RunOutcome['status'] =
    status === 'QUEUED' || status === 'RUNNING'
      ? options.signal?.aborted === true
        ? ExecutionStatus.CANCELLED
        : ExecutionStatus.FAILED
      : status;
  const error =
    terminal === ExecutionStatus.COMPLETED ? undefined : runError(result, terminal, pipeline.name);
  return {
    status: terminal,
    durationSeconds: result.durationSeconds ?? seconds(),
    outputs: isPlainObject(result.outputs)
      ? (toJsonSafe(result.outputs) as Record<string, unknown>)
      : outputsOf(result.outputs),
    metrics: { ...result.metrics },
    nodes,
    artifacts: result.artifacts,
    ...(error === undefined ? {} : { error }),
  };
}

/** The error of a DAG run that did not complete: the executor's, else its first failed node's. */
function runError(
  result: ExecuteResult,
  status: RunOutcome['status'],
  pipeline: string,
): SerializedPhysError {
  const own = (result as { error?: unknown }).error;
  if (own !== undefined && own !== null) {
    return typeof (own as SerializedPhysError).code === 'string' && !(own instanceof Error)
      ? (own as SerializedPhysError)
      : serializeError(own);
  }
  const failed =
    Object.entries(result.nodes).find(
      ([, node]) => node.error !== undefined && node.status === status,
    ) ?? Object.entries(result.nodes).find(([, node]) => node.error !== undefined);
  if (failed?.[1].error !== undefined) return failed[1].error;
  const code =
    status === 'CANCELLED'
      ? 'PHYS_CANCELLED'
      : status === 'TIMEOUT'
        ? 'PHYS_TIMEOUT'
        : 'PHYS_DAG_FAILED';
  return serializeError(
    new PhysError(code, `Pipeline '${pipeline}' ended ${status}.`, { details: { status } }),
  );
}

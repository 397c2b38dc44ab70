import {
  type ExecutionStatus,
  getMetricsCollectors,
  type HookFailure,
  HookRunner,
  type Logger,
  type MetricsCollector,
  MetricsFanout,
  type NodeSpec,
  type NodeStatus,
  type PhysError,
  type ProgressEvent,
  type StageResult,
} from '@phys/core';
import type { StageOutput } from './completion.js';
import type { DagExecutorOptions, DagRunOptions } from './dag-executor.js';
import { S_CACHED, S_SKIPPED, STATUS_NAMES } from './run-result.js';
import type { RunState } from './run-state.js';

/**
 * What a run reports while it runs: lifecycle hooks, metrics collectors and the progress
 * callback. A run with none of them gets no observer (see {@link RunObserver.create}), so its
 * nodes pay one `undefined` check, and only such runs may take the fast path.
 */
export class RunObserver {
  readonly hooks: HookRunner | undefined;
  readonly metrics: MetricsFanout | undefined;
  readonly #onProgress: ((event: ProgressEvent) => void) | undefined;
  readonly #pipeline: string;
  readonly #runId: string;
  readonly #logger: Logger;

  private constructor(
    hooks: HookRunner | undefined,
    metrics: MetricsFanout | undefined,
    onProgress: ((event: ProgressEvent) => void) | undefined,
    pipeline: string,
    runId: string,
    logger: Logger,
  ) {
    this.hooks = hooks;
    this.metrics = metrics;
    this.#onProgress = onProgress;
    this.#pipeline = pipeline;
    this.#runId = runId;
    this.#logger = logger;
  }

  /**
   * The executor's hooks then the run's, the executor's collectors (or the process-wide ones)
   * and the run's progress callback; undefined when there are none.
   */
  static create(
    executor: DagExecutorOptions,
    options: DagRunOptions,
    pipeline: string,
    runId: string,
    logger: Logger,
  ): RunObserver | undefined {
    const hookList = [...(executor.hooks ?? []), ...(options.hooks ?? [])];
    const hooks = hookList.length > 0 ? new HookRunner(hookList, logger) : undefined;
    const collectors =
      executor.metrics === undefined
        ? getMetricsCollectors()
        : Array.isArray(executor.metrics)
          ? (executor.metrics as readonly MetricsCollector[])
          : [executor.metrics as MetricsCollector];
    const metrics = collectors.length > 0 ? new MetricsFanout(collectors) : undefined;
    const onProgress = options.onProgress;
    if (hooks === undefined && metrics === undefined && onProgress === undefined) return undefined;
    return new RunObserver(hooks, metrics, onProgress, pipeline, runId, logger);
  }

  /**
   * Nodes still unfinished when the run ends are reported CANCELLED to collectors and the
   * progress callback; hooks hear of them only along with those.
   */
  get reportsLeftovers(): boolean {
    return this.metrics !== undefined || this.#onProgress !== undefined;
  }

  get hookFailures(): readonly HookFailure[] {
    return this.hooks?.failures ?? [];
  }

  runStart(nodes: number, policyHash: string | undefined): void {
    this.hooks?.emit('onPipelineStart', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      context: { nodes, policyHash },
    });
    this.metrics?.emit('onRunStart', { pipeline: this.#pipeline, runId: this.#runId, nodes });
  }

  nodeStart(run: RunState, i: number, attempt: number, input: unknown, now: number): void {
    const node = run.dag.nodes[i] as NodeSpec;
    this.hooks?.emit('onStepStart', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      step: node.id,
      attempt,
      inputs: input,
    });
    if (this.metrics !== undefined) {
      this.metrics.emit('onNodeStart', {
        pipeline: this.#pipeline,
        runId: this.#runId,
        node: node.id,
        stage: node.stage.name,
        attempt,
        queueSeconds: (now - (run.readyAt?.[i] ?? now)) / 1000,
      });
    }
    if (attempt === 1) this.progress(run, i);
  }

  nodeEnd(run: RunState, i: number, status: number, out: StageOutput | undefined): void {
    const node = run.dag.nodes[i] as NodeSpec;
    const name = STATUS_NAMES[status] as NodeStatus;
    const attempt = run.attempts[i] as number;
    const started = run.attemptStart[i] as number;
    const durationSeconds =
      started > 0 && status !== S_SKIPPED && status !== S_CACHED
        ? (performance.now() - started) / 1000
        : 0;
    if (this.hooks !== undefined && (attempt > 0 || status === S_CACHED)) {
      this.hooks.emit('onStepEnd', {
        pipeline: this.#pipeline,
        runId: this.#runId,
        step: node.id,
        status: name,
        attempt,
        durationSeconds,
        outputs: out === undefined ? undefined : (out as StageResult),
      });
    }
    this.metrics?.emit('onNodeEnd', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      node: node.id,
      stage: node.stage.name,
      status: name,
      attempt,
      durationSeconds,
      cacheHit: status === S_CACHED,
    });
    this.progress(run, i);
  }

  /** Node `node` failed and will run `attempt` after its backoff. */
  retry(node: NodeSpec, attempt: number, error: PhysError): void {
    this.metrics?.emit('onRetry', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      node: node.id,
      attempt,
      errorCode: error.code,
    });
  }

  /** Node `node` failed for good (cancellations are not reported as errors). */
  error(node: NodeSpec, error: PhysError): void {
    this.hooks?.emit('onError', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      step: node.id,
      error,
    });
  }

  progress(run: RunState, i: number): void {
    const cb = this.#onProgress;
    if (cb === undefined) return;
    try {
      cb({
        node: run.dag.ids[i] as string,
        status: STATUS_NAMES[run.status[i] as number] as NodeStatus,
        counts: run.countsByStatus(),
        total: run.dag.n,
      });
    } catch (error) {
      this.#logger.warn(`progress callback failed: ${String(error)}`);
    }
  }

  /** onPipelineEnd (on success, failure and cancellation alike), then the collectors' end. */
  async runEnd(
    status: ExecutionStatus,
    durationSeconds: number,
    error: PhysError | undefined,
    counts: Partial<Record<NodeStatus, number>>,
  ): Promise<void> {
    this.hooks?.emit('onPipelineEnd', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      status,
      durationSeconds,
      error,
    });
    await this.hooks?.flush();
    await this.metrics?.end({
      pipeline: this.#pipeline,
      runId: this.#runId,
      status,
      durationSeconds,
      counts,
    });
  }
}

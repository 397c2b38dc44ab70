import {
  type CacheMetric,
  type ExecutionStatus,
  getMetricsCollectors,
  type HookFailure,
  HookRunner,
  type Logger,
  type MetricsCollector,
  MetricsFanout,
  type NodeBatchMetric,
  type NodeEndMetric,
  type NodeSpec,
  type NodeStartMetric,
  type NodeStatus,
  type PhysError,
  type ProgressEvent,
  type RunActivity,
  type StageResult,
} from '@phys/core';
import type { StageOutput } from './completion.js';
import type { DagExecutorOptions, DagRunOptions } from './dag-executor.js';
import type { DagRun } from './dag-run.js';
import { S_CACHED, S_COMPLETED, S_READY, S_SKIPPED, STATUS_NAMES } from './run-result.js';
import type { RunState } from './run-state.js';

/**
 * What a run reports while it runs: lifecycle hooks, metrics collectors and the progress
 * callback. A run with none of them gets no observer (see {@link RunObserver.create}), so its
 * nodes pay one `undefined` check. Runs that nothing observes, or only collectors
 * ({@link RunObserver.metricsOnly}), may take the fast path.
 *
 * Every execution path reports the same events: a node's start when its attempt starts running
 * (for a scheduler that reports starts, when its job leaves the queue), its end once, whatever
 * its status (a cached node with the time its lookup and restore took, a cancelled one too),
 * retries with the error's code, cache reads and writes with their bytes, and the run's
 * {@link RunActivity} for gauges. The collectors' methods are bound once per run
 * ({@link MetricsFanout.bind}): an event is one object and one call. The nodes the fast path
 * runs in place go to collectors with `onNodeBatch` as columns, a call per thousand nodes, and
 * to the others as events, once it is done with them ({@link RunObserver.reportInPlace}).
 */
export class RunObserver {
  readonly hooks: HookRunner | undefined;
  readonly metrics: MetricsFanout | undefined;
  /** Only collectors observe the run: nothing a node does in place can be told apart. */
  readonly metricsOnly: boolean;
  readonly #onProgress: ((event: ProgressEvent) => void) | undefined;
  readonly #pipeline: string;
  readonly #runId: string;
  readonly #logger: Logger;
  readonly #nodeStart: ((event: NodeStartMetric) => void) | undefined;
  readonly #nodeEnd: ((event: NodeEndMetric) => void) | undefined;
  readonly #cache: ((event: CacheMetric) => void) | undefined;
  /** For nodes run in place: the collectors with onNodeBatch, and the others' start and end. */
  readonly #batch: ((batch: NodeBatchMetric) => void) | undefined;
  readonly #eachStart: ((event: NodeStartMetric) => void) | undefined;
  readonly #eachEnd: ((event: NodeEndMetric) => void) | undefined;

  private constructor(
    hooks: HookRunner | undefined,
    collectors: readonly MetricsCollector[],
    onProgress: ((event: ProgressEvent) => void) | undefined,
    pipeline: string,
    runId: string,
    logger: Logger,
  ) {
    const metrics = collectors.length > 0 ? new MetricsFanout(collectors) : undefined;
    this.hooks = hooks;
    this.metrics = metrics;
    this.metricsOnly = hooks === undefined && onProgress === undefined;
    this.#onProgress = onProgress;
    this.#pipeline = pipeline;
    this.#runId = runId;
    this.#logger = logger;
    this.#nodeStart = metrics?.bind('onNodeStart');
    this.#nodeEnd = metrics?.bind('onNodeEnd');
    this.#cache = metrics?.bind('onCache');
    this.#batch = metrics?.bind('onNodeBatch');
    const each = collectors.filter((c) => c.onNodeBatch === undefined);
    const eachFanout = each.length === collectors.length ? metrics : new MetricsFanout(each);
    this.#eachStart = eachFanout?.bind('onNodeStart');
    this.#eachEnd = eachFanout?.bind('onNodeEnd');
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
    const onProgress = options.onProgress;
    if (hooks === undefined && collectors.length === 0 && onProgress === undefined) {
      return undefined;
    }
    return new RunObserver(hooks, collectors, onProgress, pipeline, runId, logger);
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

  runStart(run: DagRun, policyHash: string | undefined): void {
    const nodes = run.dag.n;
    this.hooks?.emit('onPipelineStart', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      context: { nodes, policyHash },
    });
    this.metrics?.emit('onRunStart', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      nodes,
      scheduler: run.scheduler.name,
      activity: new LiveActivity(run),
    });
  }

  /**
   * An attempt of node `i` starts at `now` (queue wait: since the node became ready). With
   * `queued`, it went to a scheduler that reports when it starts running: collectors hear of it
   * then ({@link RunObserver.nodeRunning}).
   */
  nodeStart(
    run: RunState,
    i: number,
    attempt: number,
    input: unknown,
    now: number,
    queued = false,
  ): void {
    const node = run.dag.nodes[i] as NodeSpec;
    if (this.hooks !== undefined) {
      this.hooks.emit('onStepStart', {
        pipeline: this.#pipeline,
        runId: this.#runId,
        step: node.id,
        attempt,
        inputs: input,
      });
    }
    if (!queued) this.nodeRunning(run, i, attempt, now);
    if (attempt === 1 && this.#onProgress !== undefined) this.progress(run, i);
  }

  /** The attempt of node `i` started running at `now`: collectors hear of it. */
  nodeRunning(run: RunState, i: number, attempt: number, now: number): void {
    const emit = this.#nodeStart;
    if (emit !== undefined) this.#emitStart(emit, run, i, attempt, now);
  }

  #emitStart(
    emit: (event: NodeStartMetric) => void,
    run: RunState,
    i: number,
    attempt: number,
    now: number,
  ): void {
    const node = run.dag.nodes[i] as NodeSpec;
    emit({
      pipeline: this.#pipeline,
      runId: this.#runId,
      node: node.id,
      stage: node.stage.name,
      attempt,
      queueSeconds: queueSeconds(run, i, now),
    });
  }

  /**
   * Node `i` ended with `status` (its end time already stamped). The duration is its last
   * attempt's, from when it started running; a cached node's is the time from its lookup to its
   * restore; a node that never started took 0 s.
   */
  nodeEnd(run: RunState, i: number, status: number, out: StageOutput | undefined): void {
    const node = run.dag.nodes[i] as NodeSpec;
    const name = STATUS_NAMES[status] as NodeStatus;
    const attempt = run.attempts[i] as number;
    const durationSeconds = nodeSeconds(run, i, status);
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
    const emit = this.#nodeEnd;
    if (emit !== undefined) {
      emit({
        pipeline: this.#pipeline,
        runId: this.#runId,
        node: node.id,
        stage: node.stage.name,
        status: name,
        attempt,
        durationSeconds,
        cacheHit: status === S_CACHED,
      });
    }
    if (this.#onProgress !== undefined) this.progress(run, i);
  }

  /**
   * The nodes the fast path ran in place: the COMPLETED ones of `run.finishSeq[from..to)` (their
   * end times settled; nothing else ends COMPLETED while it runs), each one's start and end, in
   * order, then the start of `open`, which it handed to the general path still running (-1:
   * none). Collectors with `onNodeBatch` get the ended ones as columns, a batch per
   * {@link BATCH} nodes; the others an object per event.
   */
  reportInPlace(run: RunState, from: number, to: number, open: number): void {
    const attempts = run.attempts;
    const attemptStart = run.attemptStart;
    const eachStart = this.#eachStart;
    const eachEnd = this.#eachEnd;
    if (eachStart !== undefined || eachEnd !== undefined) {
      const placed = run.finishSeq;
      const status = run.status;
      for (let k = from; k < to; k++) {
        const i = placed[k] as number;
        if (status[i] !== S_COMPLETED) continue;
        if (eachStart !== undefined) {
          this.#emitStart(eachStart, run, i, attempts[i] as number, attemptStart[i] as number);
        }
        if (eachEnd !== undefined) {
          const node = run.dag.nodes[i] as NodeSpec;
          eachEnd({
            pipeline: this.#pipeline,
            runId: this.#runId,
            node: node.id,
            stage: node.stage.name,
            status: 'COMPLETED',
            attempt: attempts[i] as number,
            durationSeconds: nodeSeconds(run, i, S_COMPLETED),
            cacheHit: false,
          });
        }
      }
    }
    const batch = this.#batch;
    if (batch !== undefined) {
      // Columns are read during the call only (NodeBatchMetric): a spare set, returned after.
      const columns = spareColumns.pop() ?? new NodeColumns();
      columns.lend(this.#pipeline, this.#runId, run);
      try {
        for (let k = from; k < to; ) {
          k = columns.fill(k, to);
          if (columns.count > 0) batch(columns);
        }
      } finally {
        columns.release();
        spareColumns.push(columns);
      }
    }
    // The node handed over still runs: its start, after those that ended before it.
    if (open >= 0) {
      this.nodeRunning(run, open, attempts[open] as number, attemptStart[open] as number);
    }
  }

  /** Node `node` failed and will run `attempt` after its backoff. */
  retry(node: NodeSpec, attempt: number, error: PhysError): void {
    this.metrics?.emit('onRetry', {
      pipeline: this.#pipeline,
      runId: this.#runId,
      node: node.id,
      stage: node.stage.name,
      attempt,
      errorCode: error.code,
    });
  }

  /** Node `i`'s key was read from the cache (`hit`, `miss`) or its result written (`store`). */
  cache(
    run: RunState,
    i: number,
    outcome: CacheMetric['outcome'],
    bytes: number | undefined,
  ): void {
    const emit = this.#cache;
    if (emit === undefined) return;
    const node = run.dag.nodes[i] as NodeSpec;
    emit({
      pipeline: this.#pipeline,
      runId: this.#runId,
      node: node.id,
      stage: node.stage.name,
      outcome,
      bytes: bytes !== undefined && Number.isFinite(bytes) && bytes > 0 ? bytes : 0,
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

/**
 * The {@link RunActivity} of one run, read from its state when a collector samples it: attempts
 * in flight are `jobs`; those a scheduler that reports starts has not started yet are queued
 * with the ready nodes waiting for slots, the others running. (Nodes the fast path runs in place
 * start and end while it holds the thread: no reader ever sees them running.)
 */
class LiveActivity implements RunActivity {
  readonly #run: DagRun;
  constructor(run: DagRun) {
    this.#run = run;
  }
  get running(): number {
    const run = this.#run;
    return run.running - run.inQueue.size;
  }
  get queued(): number {
    const run = this.#run;
    return (run.counts[S_READY] as number) + run.inQueue.size;
  }
  get jobs(): number {
    const run = this.#run;
    return run.running;
  }
}

/** Nodes per {@link NodeBatchMetric}: the columns are this long. */
const BATCH = 1024;

/**
 * The reused columns of node batches, lent to one {@link RunObserver.reportInPlace} call at a
 * time (a run allocates none of its own). Entry `k` holds the node's index, its stage's name and
 * its queue wait and duration in seconds. The ids and attempts of the nodes are read from the run
 * only when a collector asks for them (an aggregating one never does).
 */
class NodeColumns implements NodeBatchMetric {
  pipeline = '';
  runId = '';
  count = 0;
  /** The nodes of the batch, by index in the run. */
  readonly index = new Int32Array(BATCH);
  readonly stages: string[] = [];
  readonly queueSeconds = new Float64Array(BATCH);
  readonly durationSeconds = new Float64Array(BATCH);
  #run: RunState | undefined;
  /** The batch being sent, and the batch `#nodes` and `#attempts` were last filled for. */
  #batch = 0;
  #nodesOf = -1;
  #attemptsOf = -1;
  readonly #nodes: string[] = [];
  readonly #attempts = new Float64Array(BATCH);

  get nodes(): readonly string[] {
    if (this.#nodesOf !== this.#batch) {
      const ids = (this.#run as RunState).dag.ids;
      for (let k = 0; k < this.count; k++) this.#nodes[k] = ids[this.index[k] as number] as string;
      this.#nodes.length = this.count;
      this.#nodesOf = this.#batch;
    }
    return this.#nodes;
  }

  get attempts(): ArrayLike<number> {
    if (this.#attemptsOf !== this.#batch) {
      const attempts = (this.#run as RunState).attempts;
      for (let k = 0; k < this.count; k++) {
        this.#attempts[k] = attempts[this.index[k] as number] as number;
      }
      this.#attemptsOf = this.#batch;
    }
    return this.#attempts;
  }

  lend(pipeline: string, runId: string, run: RunState): void {
    this.pipeline = pipeline;
    this.runId = runId;
    this.#run = run;
  }

  /**
   * Fills the columns with the COMPLETED nodes of the run's `finishSeq[from..to)`, up to
   * {@link BATCH} of them; returns where it stopped. A small function of its own, so that the
   * JIT compiles it early: a run calls it once per batch, and in a first large run a loop inside
   * a larger function would run in the interpreter from start to end.
   */
  fill(from: number, to: number): number {
    const run = this.#run as RunState;
    const placed = run.finishSeq;
    const status = run.status;
    const attemptStart = run.attemptStart;
    const end = run.end;
    const readyAt = run.readyAt as Float64Array;
    const nodes = run.dag.nodes;
    const index = this.index;
    const stages = this.stages;
    const queue = this.queueSeconds;
    const duration = this.durationSeconds;
    let stage: unknown;
    let name = '';
    let m = 0;
    let k = from;
    for (; k < to && m < BATCH; k++) {
      const i = placed[k] as number;
      if (status[i] !== S_COMPLETED) continue;
      // queueSeconds() and nodeSeconds() written out for a node run in place.
      const started = attemptStart[i] as number;
      let ready = readyAt[i] as number;
      if (ready < 0) ready = end[-ready - 1] as number;
      index[m] = i;
      // Consecutive nodes mostly share a stage, and spare columns mostly hold its name already:
      // no load of the name and no store (no write barrier) per node.
      const s = (nodes[i] as NodeSpec).stage;
      if (s !== stage) {
        stage = s;
        name = s.name;
      }
      if (stages[m] !== name) stages[m] = name;
      queue[m] = ready > 0 && started > ready ? (started - ready) / 1000 : 0;
      duration[m++] = ((end[i] as number) - started) / 1000;
    }
    this.count = m;
    // New entries: what `nodes` and `attempts` returned before is stale.
    this.#batch++;
    return k;
  }

  /** Back to the spares: holds on to no run. */
  release(): void {
    this.#run = undefined;
    this.count = 0;
    this.#batch++;
  }
}

/** Columns not lent out (see {@link NodeColumns}); a nested report takes another set. */
const spareColumns: NodeColumns[] = [];

/**
 * Seconds node `i` waited from when it became ready until its attempt started at `started`.
 * A node the fast path readied holds -(p + 1) for "when node p ended" (completion.ts).
 */
function queueSeconds(run: RunState, i: number, started: number): number {
  const readyAt = run.readyAt;
  if (readyAt === undefined) return 0;
  let ready = readyAt[i] as number;
  if (ready < 0) ready = run.end[-ready - 1] as number;
  return ready > 0 && started > ready ? (started - ready) / 1000 : 0;
}

/**
 * Seconds node `i`, ended with `status` (its end time stamped), took: its last attempt's, from
 * when it started running (on a scheduler that reports starts, when its job did); for a cached
 * node, from its lookup to its restore; 0 for a node that never ran.
 */
function nodeSeconds(run: RunState, i: number, status: number): number {
  const end = run.end[i] as number;
  let since = 0;
  if (status === S_CACHED) {
    since = run.readyAt === undefined ? 0 : (run.readyAt[i] as number);
  } else if (status !== S_SKIPPED && (run.attempts[i] as number) > 0) {
    // -1 on a scheduler that reports starts, for a job that never started.
    const running = run.runningSince.size > 0 ? run.runningSince.get(i) : undefined;
    since = running === undefined ? (run.attemptStart[i] as number) : running;
  }
  // Nodes that end without an end time (cancelled or skipped before they ran) took 0 s.
  return since > 0 && end > since ? (end - since) / 1000 : 0;
}

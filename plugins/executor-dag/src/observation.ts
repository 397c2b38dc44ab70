import {
  type CacheMetric,
  type ExecutionStatus,
  getMetricsCollectors,
  type HookFailure,
  HookRunner,
  type Logger,
  type MetricsCollector,
  MetricsFanout,
  type NodeEndMetric,
  type NodeSpec,
  type NodeStartMetric,
  type NodeStatus,
  type NodeSummaryBuckets,
  type NodeSummaryMetric,
  type PhysError,
  type PipelineStage,
  type ProgressEvent,
  type RunActivity,
  type StageResult,
} from '@phys/core';
import type { StageOutput } from './completion.js';
import type { DagExecutorOptions, DagRunOptions } from './dag-executor.js';
import type { DagRun } from './dag-run.js';
import { S_CACHED, S_COMPLETED, S_READY, S_SKIPPED, STATUS_NAMES } from './run-result.js';
import { type RunState, readyTime } from './run-state.js';

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
 * runs in place go, once it is done with them ({@link RunObserver.reportInPlace}), to collectors
 * with `onNodeSummary` binned into their buckets (a summary per stage when a burst ends), and to the
 * others as events.
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
  /** For nodes run in place: the collectors with onNodeSummary, and the others' start and end. */
  readonly #summaries: readonly InPlaceSummary[] | undefined;
  readonly #eachStart: ((event: NodeStartMetric) => void) | undefined;
  readonly #eachEnd: ((event: NodeEndMetric) => void) | undefined;
  /**
   * Where the fast path tallies the nodes it runs in place, when a collector takes them binned
   * (`onNodeSummary`).
   */
  readonly tally: InPlaceTally | undefined;

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
    const summaries: InPlaceSummary[] = [];
    const each: MetricsCollector[] = [];
    for (const c of collectors) {
      const summary =
        c.onNodeSummary === undefined
          ? undefined
          : InPlaceSummary.create(c, pipeline, runId, metrics as MetricsFanout, logger);
      if (summary === undefined) each.push(c);
      else summaries.push(summary);
    }
    this.#summaries = summaries.length > 0 ? summaries : undefined;
    this.tally = summaries.length > 0 ? new InPlaceTally(summaries) : undefined;
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
   * none). Collectors with `onNodeSummary` get them binned, a summary per stage (the burst
   * tallied them as it ran them: {@link InPlaceTally}); the others an object per event.
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
    const summaries = this.#summaries;
    if (summaries !== undefined) {
      for (let c = 0; c < summaries.length; c++) (summaries[c] as InPlaceSummary).send();
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

/**
 * Where the fast path's tallies of the nodes it runs in place go (fast-path.ts tallies each node
 * as it completes, while its times are at hand, in locals of its loop): stretches of nodes of one
 * stage name that ran back to back, at most {@link STRETCH} of them, each with its node count,
 * where it starts in the finish order and when, the sum of its queue waits and how many were at
 * or under {@link InPlaceTally.low} (bucket 0 for every collector); the few longer waits are kept
 * one by one in {@link InPlaceTally.high}. A stretch closes at another stage name, when full, and
 * when the burst ends ({@link InPlaceTally.close}): each collector's {@link InPlaceSummary} bins
 * it then, and the collectors get their summaries when the burst is reported
 * ({@link RunObserver.reportInPlace}). So a node costs a handful of adds on what the burst has
 * just touched, with no call and no pass after the burst.
 */
export class InPlaceTally {
  readonly #summaries: readonly InPlaceSummary[];
  /** Queue waits (ms) at or under this are in bucket 0 of every collector's layout. */
  readonly low: number;
  /** The open stretch's queue waits above {@link InPlaceTally.low} (ms), one by one. */
  readonly high: number[] = [];

  constructor(summaries: readonly InPlaceSummary[]) {
    this.#summaries = summaries;
    let low = Number.POSITIVE_INFINITY;
    for (const summary of summaries) low = Math.min(low, summary.queueLowMs);
    this.low = low;
  }

  /**
   * Closes a stretch of `n` nodes of `stage` (`finishSeq[k0..k1)`, started at `start`, the last
   * one `last`, its end settled) with the sum of their queue waits and how many were low: each
   * collector's summary bins it, and {@link InPlaceTally.high} is emptied. (`stage` is the
   * burst's local, undefined only before its first node: never with `n` > 0.)
   */
  close(
    run: RunState,
    stage: PipelineStage | undefined,
    k0: number,
    k1: number,
    n: number,
    start: number,
    last: number,
    queueMs: number,
    queueLows: number,
  ): void {
    const spanMs = (run.end[last] as number) - start;
    const high = this.high;
    const summaries = this.#summaries;
    for (let c = 0; c < summaries.length; c++) {
      (summaries[c] as InPlaceSummary).take(
        run,
        (stage as PipelineStage).name,
        k0,
        k1,
        n,
        spanMs,
        queueMs,
        queueLows,
        high,
      );
    }
    high.length = 0;
  }
}

/**
 * The nodes run in place of one run, as one collector with `onNodeSummary` gets them: the
 * stretches {@link InPlaceTally} closes binned into its buckets by stage name ({@link StageBins},
 * {@link InPlaceSummary.take}), then a summary sent per stage that has new nodes
 * ({@link InPlaceSummary.send}).
 *
 * Times are binned in the milliseconds the run keeps: a value at or under the first bound (less
 * a few ulps; every inline node's duration and wait is) is counted, and only the others are
 * divided into seconds and searched for, so that a value lands in the bucket its `onNodeEnd`
 * would have put it in, to the last bit.
 */
class InPlaceSummary {
  readonly #send: (summary: NodeSummaryMetric) => void;
  readonly #pipeline: string;
  readonly #runId: string;
  readonly #duration: Float64Array;
  readonly #queue: Float64Array;
  /** Milliseconds at or under which a duration (a queue wait) is in bucket 0 for certain. */
  readonly #durationLowMs: number;
  readonly #queueLowMs: number;
  readonly #byName = new Map<string, StageBins>();
  /** Bins holding nodes not sent yet. */
  readonly #pending: StageBins[] = [];
  /** The bins of the last stretch's stage. */
  #last: StageBins | undefined;

  private constructor(
    collector: MetricsCollector,
    pipeline: string,
    runId: string,
    duration: Float64Array,
    queue: Float64Array,
  ) {
    // Its failures isolated as any collector's (MetricsFanout.bind).
    this.#send = new MetricsFanout([collector]).bind('onNodeSummary') as (
      summary: NodeSummaryMetric,
    ) => void;
    this.#pipeline = pipeline;
    this.#runId = runId;
    this.#duration = duration;
    this.#queue = queue;
    this.#durationLowMs = lowMs(duration);
    this.#queueLowMs = lowMs(queue);
  }

  /** Milliseconds at or under which a queue wait is in bucket 0 for certain. */
  get queueLowMs(): number {
    return this.#queueLowMs;
  }

  /**
   * The summary of `collector`'s nodes run in place, or undefined when its `nodeSummaryBuckets`
   * are not ascending finite numbers: it then gets events, and the logger says why (once per
   * collector).
   */
  static create(
    collector: MetricsCollector,
    pipeline: string,
    runId: string,
    fanout: MetricsFanout,
    logger: Logger,
  ): InPlaceSummary | undefined {
    const buckets: NodeSummaryBuckets = collector.nodeSummaryBuckets ?? NO_BUCKETS;
    const duration = boundsOf(buckets.duration);
    const queue = boundsOf(buckets.queue);
    if (duration === undefined || queue === undefined) {
      const message = `${collector.name ?? 'a metrics collector'}: nodeSummaryBuckets.${duration === undefined ? 'duration' : 'queue'} must hold ascending finite numbers of seconds; its nodes run in place are reported one event at a time instead`;
      if (!warned.has(collector)) {
        warned.add(collector);
        logger.warn(message);
      }
      fanout.errors.push(new Error(message));
      return undefined;
    }
    return new InPlaceSummary(collector, pipeline, runId, duration, queue);
  }

  /**
   * A stretch of `n` nodes of stage `name` that ran back to back and COMPLETED in place
   * (`finishSeq[k0..k1)`, taking `spanMs` from the first one's start to the last one's end) into
   * its bins: the sum of their queue waits (`queueMs`), how many of those were at or under the
   * tally's low mark (bucket 0 of every collector's layout) and the others one by one (`high`);
   * their durations as one when the span is within the first bound (they add up to it: each
   * ended at the clock reading that started the next), else one by one
   * ({@link InPlaceSummary.durations}).
   */
  take(
    run: RunState,
    name: string,
    k0: number,
    k1: number,
    n: number,
    spanMs: number,
    queueMs: number,
    queueLows: number,
    high: readonly number[],
  ): void {
    const bins = this.#binsOf(name);
    let lows = queueLows;
    if (high.length > 0) {
      const bounds = this.#queue;
      const low = this.#queueLowMs;
      const counts = bins.queueCounts;
      for (let h = 0; h < high.length; h++) {
        const wait = high[h] as number;
        if (wait <= low) lows++;
        else {
          const b = bucketOf(bounds, wait / 1000);
          counts[b] = (counts[b] as number) + 1;
        }
      }
    }
    if (spanMs <= this.#durationLowMs) {
      bins.take(n, spanMs, n, queueMs, lows, this.#pending);
    } else {
      bins.take(n, this.durations(run, bins, k0, k1), 0, queueMs, lows, this.#pending);
    }
  }

  /**
   * The durations of the COMPLETED nodes of `finishSeq[k0..k1)` one by one, for a stretch that
   * took longer than the first bound, binned into `bins`; returns their sum (ms).
   */
  durations(run: RunState, bins: StageBins, k0: number, k1: number): number {
    const placed = run.finishSeq;
    const status = run.status;
    const attemptStart = run.attemptStart;
    const end = run.end;
    const bounds = this.#duration;
    const low = this.#durationLowMs;
    const counts = bins.durationCounts;
    let sum = 0;
    let lows = 0;
    for (let k = k0; k < k1; k++) {
      const i = placed[k] as number;
      if (status[i] !== S_COMPLETED) continue;
      const duration = (end[i] as number) - (attemptStart[i] as number);
      sum += duration;
      if (duration <= low) lows++;
      else {
        const b = bucketOf(bounds, duration / 1000);
        counts[b] = (counts[b] as number) + 1;
      }
    }
    counts[0] = (counts[0] as number) + lows;
    return sum;
  }

  /** Sends a summary per stage with nodes binned since the last send, and clears them. */
  send(): void {
    const pending = this.#pending;
    for (let k = 0; k < pending.length; k++) {
      const bins = pending[k] as StageBins;
      this.#send(bins);
      bins.clear();
    }
    pending.length = 0;
  }

  #binsOf(name: string): StageBins {
    const last = this.#last;
    if (last !== undefined && last.stage === name) return last;
    let bins = this.#byName.get(name);
    if (bins === undefined) {
      bins = new StageBins(this.#pipeline, this.#runId, name, this.#duration, this.#queue);
      this.#byName.set(name, bins);
    }
    this.#last = bins;
    return bins;
  }
}

/**
 * The nodes of one stage binned and not sent yet: the {@link NodeSummaryMetric} a collector
 * gets (its sums kept in milliseconds, read in seconds).
 */
class StageBins implements NodeSummaryMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly stage: string;
  count = 0;
  readonly durationCounts: Float64Array;
  readonly queueCounts: Float64Array;
  #durationMs = 0;
  #queueMs = 0;

  constructor(
    pipeline: string,
    runId: string,
    stage: string,
    duration: Float64Array,
    queue: Float64Array,
  ) {
    this.pipeline = pipeline;
    this.runId = runId;
    this.stage = stage;
    this.durationCounts = new Float64Array(duration.length + 1);
    this.queueCounts = new Float64Array(queue.length + 1);
  }

  /**
   * Adds a stretch of `n` nodes: the sums of their durations and queue waits (ms), and how many
   * of each were at or under the first bound (bucket 0; the others binned already). The first
   * time since it was sent, it queues itself on `pending`.
   */
  take(
    n: number,
    durationMs: number,
    durationLows: number,
    queueMs: number,
    queueLows: number,
    pending: StageBins[],
  ): void {
    if (n === 0) return;
    if (this.count === 0) pending.push(this);
    this.count += n;
    this.#durationMs += durationMs;
    this.#queueMs += queueMs;
    this.durationCounts[0] = (this.durationCounts[0] as number) + durationLows;
    this.queueCounts[0] = (this.queueCounts[0] as number) + queueLows;
  }

  get durationSum(): number {
    return this.#durationMs / 1000;
  }

  get queueSum(): number {
    return this.#queueMs / 1000;
  }

  clear(): void {
    this.count = 0;
    this.#durationMs = 0;
    this.#queueMs = 0;
    this.durationCounts.fill(0);
    this.queueCounts.fill(0);
  }
}

const NO_BUCKETS: NodeSummaryBuckets = { duration: [], queue: [] };

/**
 * Most nodes in a stretch whose durations are binned as one (see InPlaceTally): few
 * enough that a stretch of inline nodes stays within a millisecond, the usual first bound, even
 * in a first run the JIT has not compiled yet (2 µs a node); many enough that closing stretches
 * costs next to nothing per node.
 */
export const STRETCH = 128;

/** Collectors whose bad buckets were reported already: once per collector, not per run. */
const warned = new WeakSet<MetricsCollector>();

/**
 * Each frozen bucket layout a collector declares (`DURATION_BUCKETS` is), as a Float64Array
 * converted once. Layouts that can still change are converted at every run start.
 */
const BOUNDS = new WeakMap<readonly number[], Float64Array>();

/** `bounds` as a Float64Array, or undefined unless it holds ascending finite numbers. */
function boundsOf(bounds: readonly number[] | undefined): Float64Array | undefined {
  if (!Array.isArray(bounds)) return undefined;
  let out = BOUNDS.get(bounds);
  if (out !== undefined) return out;
  for (let b = 0; b < bounds.length; b++) {
    const v = bounds[b];
    if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
    if (b > 0 && !(v > (bounds[b - 1] as number))) return undefined;
  }
  out = Float64Array.from(bounds);
  if (Object.isFrozen(bounds)) BOUNDS.set(bounds, out);
  return out;
}

/**
 * Milliseconds at or under which a value is in bucket 0 of `bounds` (seconds) for certain once
 * divided by 1000: the first bound in ms, less a few ulps. With no bounds, every value is in
 * bucket 0, the +Inf bucket.
 */
export function lowMs(bounds: Float64Array): number {
  if (bounds.length === 0) return Number.POSITIVE_INFINITY;
  const first = (bounds[0] as number) * 1000;
  return first - Math.abs(first) * 2 ** -40;
}

/** The bucket of `value` (seconds): the first bound it does not exceed, else `bounds.length`. */
export function bucketOf(bounds: Float64Array, value: number): number {
  const n = bounds.length;
  let b = 0;
  while (b < n && value > (bounds[b] as number)) b++;
  return b;
}

/**
 * Seconds node `i` waited from when it became ready until its attempt started at `started`
 * ({@link readyTime}).
 */
function queueSeconds(run: RunState, i: number, started: number): number {
  const ready = readyTime(run, i);
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

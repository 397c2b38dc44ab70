import type { ExecutionStatus, NodeStatus } from './status.js';

/** Labels on a metric sample. @public */
export type MetricLabels = Readonly<Record<string, string>>;

/** @public */
export interface RunStartMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly nodes: number;
  /** Name of the scheduler the run's nodes go to (`local`, `slurm`, `pbs`, `mock-hpc`, ...). */
  readonly scheduler?: string;
  /**
   * What the run has in flight, kept current until its `onRunEnd`: read it when sampling
   * gauges (at a scrape or a push). Reading it costs the run nothing; keep it only until
   * `onRunEnd`.
   */
  readonly activity?: RunActivity;
}

/**
 * A live view of what one run has in flight, as of the moment it is read. The DAG executor
 * updates it as nodes move, without an event per change, so a collector samples its gauges
 * (nodes running, nodes queued, jobs in flight by scheduler) when they are scraped or pushed.
 * Every count is 0 once the run has ended.
 * @public
 */
export interface RunActivity {
  /** Nodes whose attempt is running now (on a cluster: whose job the scheduler saw start). */
  readonly running: number;
  /**
   * Nodes ready to run that have not started: waiting for free slots, or submitted and waiting
   * in the scheduler's queue.
   */
  readonly queued: number;
  /** Attempts handed to the scheduler that have not ended (waiting in its queue or running). */
  readonly jobs: number;
}

/** @public */
export interface RunEndMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly status: ExecutionStatus;
  readonly durationSeconds: number;
  readonly counts: Readonly<Partial<Record<NodeStatus, number>>>;
}

/** @public */
export interface NodeStartMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly node: string;
  readonly stage: string;
  readonly attempt: number;
  /** Seconds the node waited for resources after becoming ready. */
  readonly queueSeconds: number;
}

/** @public */
export interface NodeEndMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly node: string;
  readonly stage: string;
  readonly status: NodeStatus;
  readonly attempt: number;
  readonly durationSeconds: number;
  readonly cacheHit: boolean;
}

/**
 * Upper bounds, in seconds, ascending and finite, of the buckets a collector with
 * `onNodeSummary` wants the nodes run in place binned into: one layout for their durations and
 * one for their queue waits (they may be the same array).
 * @public
 */
export interface NodeSummaryBuckets {
  readonly duration: readonly number[];
  readonly queue: readonly number[];
}

/**
 * Nodes of one stage that ran back to back in one stretch of the executor (inline nodes, one
 * after the other) and ended `COMPLETED`, binned into the collector's
 * {@link MetricsCollector.nodeSummaryBuckets}, in place of their `onNodeStart` and `onNodeEnd`.
 *
 * Entry `b` of a counts array is the number of values `v` with `bounds[b - 1] < v <= bounds[b]`
 * (for `b = 0`, `v <= bounds[0]`), and entry `bounds.length` those above the last bound: the
 * buckets of an explicit-bounds histogram (Prometheus, OpenTelemetry), not cumulative. The
 * object and its arrays are reused for the next summary: read them during the call only.
 * @public
 */
export interface NodeSummaryMetric {
  readonly pipeline: string;
  readonly runId: string;
  /** Name of the nodes' stage. */
  readonly stage: string;
  /** Nodes summarised. */
  readonly count: number;
  /** Their durations (seconds each ran), binned; `bounds.length + 1` entries. */
  readonly durationCounts: ArrayLike<number>;
  /** The sum of their durations, in seconds. */
  readonly durationSum: number;
  /** Their queue waits (seconds from ready to started), binned; `bounds.length + 1` entries. */
  readonly queueCounts: ArrayLike<number>;
  /** The sum of their queue waits, in seconds. */
  readonly queueSum: number;
}

/** @public */
export interface RetryMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly node: string;
  readonly attempt: number;
  readonly errorCode: string;
  /** Name of the node's stage. */
  readonly stage?: string;
}

/**
 * One cache outcome of a node: `hit` (its result was read from the cache and the node restored),
 * `miss` (the cache had no usable entry) or `store` (the result the node computed was written).
 * Nodes restored from the result of another node of the same run that shares their key are not
 * cache reads: they end CACHED without a cache event.
 * @public
 */
export interface CacheMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly node: string;
  readonly stage: string;
  readonly outcome: 'hit' | 'miss' | 'store';
  /**
   * Bytes read (hit) or written (store), as the cache reports them (`CacheEntry.size`,
   * `CachePutResult.size`); 0 for a miss, and when the cache does not say.
   */
  readonly bytes: number;
}

/**
 * Receives run and node events. Several collectors may be active at once; every method is
 * optional, and a collector that throws never breaks a run.
 *
 * Every node is reported once, whatever runs it (inline, a thread, a process, a command, a
 * cluster) and however it ends: a start per attempt when it starts running, and one end. A
 * collector with `onNodeSummary` gets the nodes that ran back to back in place already binned
 * into its histogram buckets, a summary per stage and stretch instead of their `onNodeStart`
 * and `onNodeEnd`: an aggregating collector (Prometheus, OpenTelemetry) implements it to cost
 * next to nothing per node, since the executor tallies the nodes as it runs them anyway.
 * @public
 */
export interface MetricsCollector {
  readonly name?: string;
  onRunStart?(event: RunStartMetric): void;
  onRunEnd?(event: RunEndMetric): void | Promise<void>;
  onNodeStart?(event: NodeStartMetric): void;
  onNodeEnd?(event: NodeEndMetric): void;
  /**
   * The buckets of {@link MetricsCollector.onNodeSummary}'s counts (default: none, so every
   * value falls in the one bucket above the last bound). Read when a run starts.
   */
  readonly nodeSummaryBuckets?: NodeSummaryBuckets;
  /** Nodes of one stage that ran back to back in place, in place of their start and end events. */
  onNodeSummary?(summary: NodeSummaryMetric): void;
  onRetry?(event: RetryMetric): void;
  onCache?(event: CacheMetric): void;
  /** Flush buffered samples (e.g. push to a gateway). */
  flush?(): Promise<void>;
}

/** Prints one structured line per event to a stream (stderr by default). @public */
export class ConsoleMetricsCollector implements MetricsCollector {
  readonly name = 'console';
  readonly #write: (line: string) => void;
  readonly #nodes: boolean;

  constructor(options: { write?: (line: string) => void; nodeEvents?: boolean } = {}) {
    this.#write = options.write ?? ((line) => process.stderr.write(`${line}\n`));
    this.#nodes = options.nodeEvents ?? true;
  }

  onRunStart(e: RunStartMetric): void {
    // The live activity view is sampled by gauges, not printed.
    const { activity: _live, ...fields } = e;
    this.#emit('run_start', fields);
  }
  onRunEnd(e: RunEndMetric): void {
    this.#emit('run_end', { ...e });
  }
  onNodeStart(e: NodeStartMetric): void {
    if (this.#nodes) this.#emit('node_start', { ...e });
  }
  onNodeEnd(e: NodeEndMetric): void {
    if (this.#nodes) this.#emit('node_end', { ...e });
  }
  onRetry(e: RetryMetric): void {
    this.#emit('retry', { ...e });
  }
  onCache(e: CacheMetric): void {
    if (this.#nodes) this.#emit('cache', { ...e });
  }

  #emit(event: string, fields: Record<string, unknown>): void {
    this.#write(JSON.stringify({ event, timestamp: new Date().toISOString(), ...fields }));
  }
}

const SLOT = Symbol.for('@phys/core:metricsCollectors');
type Slot = { collectors: MetricsCollector[] };

function slot(): Slot {
  const g = globalThis as unknown as Record<symbol, Slot | undefined>;
  g[SLOT] ??= { collectors: [] };
  return g[SLOT];
}

/**
 * Sets the process-wide default collectors (used when a run is given none explicitly).
 * Pass `undefined` to clear. Prefer registering collectors through plugins.
 * @public
 */
export function setMetricsCollector(
  collector: MetricsCollector | readonly MetricsCollector[] | undefined,
): void {
  slot().collectors =
    collector === undefined
      ? []
      : Array.isArray(collector)
        ? [...collector]
        : [collector as MetricsCollector];
}

/** The process-wide default collectors. @public */
export function getMetricsCollectors(): readonly MetricsCollector[] {
  return slot().collectors;
}

/**
 * Fans events out to several collectors, isolating failures.
 * @public
 */
export class MetricsFanout {
  readonly #collectors: readonly MetricsCollector[];
  readonly errors: Error[] = [];
  constructor(collectors: readonly MetricsCollector[]) {
    this.#collectors = collectors;
  }
  get empty(): boolean {
    return this.#collectors.length === 0;
  }
  emit<K extends 'onRunStart' | 'onNodeStart' | 'onNodeEnd' | 'onRetry' | 'onCache'>(
    event: K,
    payload: Parameters<NonNullable<MetricsCollector[K]>>[0],
  ): void {
    for (const c of this.#collectors) {
      const fn = c[event] as ((p: typeof payload) => void) | undefined;
      if (fn === undefined) continue;
      try {
        fn.call(c, payload);
      } catch (e) {
        this.errors.push(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }
  /**
   * The collectors' `event` method as one function, bound once (for instance per run), so that
   * each event costs one call: the collector's own method when only one has it, undefined when
   * none has it. Failures are isolated and kept in {@link MetricsFanout.errors}, as by `emit`.
   */
  bind<
    K extends 'onRunStart' | 'onNodeStart' | 'onNodeEnd' | 'onNodeSummary' | 'onRetry' | 'onCache',
  >(event: K): ((payload: Parameters<NonNullable<MetricsCollector[K]>>[0]) => void) | undefined {
    type Payload = Parameters<NonNullable<MetricsCollector[K]>>[0];
    const targets: ((payload: Payload) => void)[] = [];
    for (const c of this.#collectors) {
      const fn = c[event] as ((p: Payload) => void) | undefined;
      if (fn !== undefined) targets.push(fn.bind(c));
    }
    const errors = this.errors;
    if (targets.length === 0) return undefined;
    if (targets.length === 1) {
      const only = targets[0] as (payload: Payload) => void;
      return (payload) => {
        try {
          only(payload);
        } catch (e) {
          errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      };
    }
    return (payload) => {
      for (let k = 0; k < targets.length; k++) {
        try {
          (targets[k] as (payload: Payload) => void)(payload);
        } catch (e) {
          errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
    };
  }
  async end(payload: RunEndMetric): Promise<void> {
    for (const c of this.#collectors) {
      // Flush even when onRunEnd failed: samples buffered earlier in the run are still worth
      // sending. A step that returns no promise is not awaited (no turn of the microtask queue).
      for (let step = 0; step < 2; step++) {
        try {
          const out = step === 0 ? c.onRunEnd?.(payload) : c.flush?.();
          if (out !== undefined) await out;
        } catch (e) {
          this.errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
    }
  }
}

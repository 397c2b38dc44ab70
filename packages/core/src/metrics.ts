import type { ExecutionStatus, NodeStatus } from './status.js';

/** Labels on a metric sample. @public */
export type MetricLabels = Readonly<Record<string, string>>;

/** @public */
export interface RunStartMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly nodes: number;
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

/** @public */
export interface RetryMetric {
  readonly pipeline: string;
  readonly runId: string;
  readonly node: string;
  readonly attempt: number;
  readonly errorCode: string;
}

/**
 * Receives run and node events. Several collectors may be active at once; every method is
 * optional, and a collector that throws never breaks a run.
 * @public
 */
export interface MetricsCollector {
  readonly name?: string;
  onRunStart?(event: RunStartMetric): void;
  onRunEnd?(event: RunEndMetric): void | Promise<void>;
  onNodeStart?(event: NodeStartMetric): void;
  onNodeEnd?(event: NodeEndMetric): void;
  onRetry?(event: RetryMetric): void;
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
    this.#emit('run_start', { ...e });
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
  emit<K extends 'onRunStart' | 'onNodeStart' | 'onNodeEnd' | 'onRetry'>(
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
  async end(payload: RunEndMetric): Promise<void> {
    for (const c of this.#collectors) {
      // Flush even when onRunEnd failed: samples buffered earlier in the run are still worth sending.
      for (const step of [() => c.onRunEnd?.(payload), () => c.flush?.()]) {
        try {
          await step();
        } catch (e) {
          this.errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
    }
  }
}

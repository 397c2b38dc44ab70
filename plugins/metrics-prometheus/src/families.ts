// Metric families whose children are bound to their label values once: an event increments a
// number on an object it already holds, with no label hashing or validation per event (which
// prom-client's own `labels()` children still do on every call). prom-client's Registry reads
// them at a scrape or a push through the same `get()` its own metrics implement, and formats,
// merges and serves them as usual.
import type { Registry } from 'prom-client';

type Kind = 'counter' | 'gauge' | 'histogram';

/** One sample of a read: what prom-client's own metrics return from `get()`. */
export interface Sample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  /** The sample's name when it is not the family's (`_bucket`, `_sum`, `_count`). */
  readonly metricName?: string;
}

/** A family as a read returns it. */
export interface Collected {
  readonly name: string;
  readonly help: string;
  readonly type: Kind;
  readonly aggregator: 'sum';
  readonly values: readonly Sample[];
}

/** A counter or gauge series: its labels and a plain number. */
export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

/** A histogram series: per-bucket counts (not cumulative), sum and count. */
export interface HistogramSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** The family's upper bounds, ascending (shared by its series). */
  readonly bounds: Float64Array;
  readonly counts: Float64Array;
  sum: number;
  count: number;
  observe(value: number): void;
  /**
   * Adds values binned already: `counts` per bucket of this series' bounds (not cumulative,
   * `bounds.length + 1` entries, the last above the last bound), their `sum` and `count`.
   */
  add(counts: ArrayLike<number>, sum: number, count: number): void;
}

abstract class Family<TChild> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly aggregator = 'sum' as const;
  abstract readonly type: Kind;
  protected readonly children = new Map<string, TChild>();

  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  /** The child for these label values (in `labelNames` order), created on first use. */
  child(...values: string[]): TChild {
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    let child = this.children.get(key);
    if (child === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => {
        labels[name] = values[i] ?? '';
      });
      child = this.create(labels);
      this.children.set(key, child);
    }
    return child;
  }

  protected abstract create(labels: Record<string, string>): TChild;
  abstract get(): Promise<Collected>;

  reset(): void {
    this.children.clear();
  }

  register(registry: Registry): this {
    // prom-client's registry reads metrics through get(), name, help and type only.
    registry.registerMetric(this as never);
    return this;
  }
}

/** A counter (or a gauge kept by increments): children are {@link Series}. */
export class ValueFamily extends Family<Series> {
  readonly type: 'counter' | 'gauge';
  readonly #sample: ((family: ValueFamily) => void) | undefined;

  /** `sample` runs before each read: a gauge sets its values from what it observes then. */
  constructor(
    type: 'counter' | 'gauge',
    name: string,
    help: string,
    labelNames: readonly string[],
    sample?: (family: ValueFamily) => void,
  ) {
    super(name, help, labelNames);
    this.type = type;
    this.#sample = sample;
  }

  protected create(labels: Record<string, string>): Series {
    return { labels, value: 0 };
  }

  /** Sets every existing child to 0 (a sampled gauge keeps its series between samples). */
  zero(): void {
    for (const child of this.children.values()) child.value = 0;
  }

  async get(): Promise<Collected> {
    this.#sample?.(this);
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [...this.children.values()].map((c) => ({ labels: { ...c.labels }, value: c.value })),
    };
  }
}

/** The text format's spelling of a bucket bound. */
function le(bound: number): string {
  return bound === Number.POSITIVE_INFINITY ? '+Inf' : String(bound);
}

/** The bounds of each bucket layout, as the families given that array share them. */
const SHARED_BOUNDS = new WeakMap<readonly number[], Float64Array>();

/** A histogram with fixed bounds; a child's `observe` is a short scan and three additions. */
export class HistogramFamily extends Family<HistogramSeries> {
  readonly type = 'histogram' as const;
  readonly bounds: readonly number[];
  readonly #bounds: Float64Array;

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    bounds: readonly number[],
  ) {
    super(name, help, labelNames);
    this.bounds = bounds;
    // Families of one bucket layout share their bounds.
    let shared = SHARED_BOUNDS.get(bounds);
    if (shared === undefined) {
      shared = Float64Array.from(bounds);
      SHARED_BOUNDS.set(bounds, shared);
    }
    this.#bounds = shared;
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    const bounds = this.#bounds;
    const first = firstBound(bounds);
    // counts[n] holds the observations above the last bound (the +Inf bucket).
    const counts = new Float64Array(bounds.length + 1);
    const series: HistogramSeries = {
      labels,
      bounds,
      counts,
      sum: 0,
      count: 0,
      observe(value: number): void {
        const i = value > first ? bucketAbove(bounds, value) : 0;
        counts[i] = (counts[i] as number) + 1;
        series.sum += value;
        series.count++;
      },
      add(binned: ArrayLike<number>, sum: number, count: number): void {
        if (binned.length < counts.length) {
          throw new RangeError(`${counts.length} bucket counts expected, got ${binned.length}`);
        }
        for (let b = 0; b < counts.length; b++) {
          const c = binned[b] as number;
          if (c !== 0) counts[b] = (counts[b] as number) + c;
        }
        series.sum += sum;
        series.count += count;
      },
    };
    return series;
  }

  async get(): Promise<Collected> {
    const values: Sample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const child of this.children.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += child.counts[i] as number;
        values.push({
          labels: { ...child.labels, le: le(bound) },
          value: cumulative,
          metricName: bucket,
        });
      });
      values.push({
        labels: { ...child.labels, le: '+Inf' },
        value: child.count,
        metricName: bucket,
      });
      values.push({
        labels: { ...child.labels },
        value: child.sum,
        metricName: `${this.name}_sum`,
      });
      values.push({
        labels: { ...child.labels },
        value: child.count,
        metricName: `${this.name}_count`,
      });
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}

/** The first bound: a value not above it goes to bucket 0 (with no bounds, that is +Inf's). */
function firstBound(bounds: Float64Array): number {
  return bounds.length > 0 ? (bounds[0] as number) : Number.POSITIVE_INFINITY;
}

/**
 * The bucket of a value above the first bound: the first bound it does not exceed, or the +Inf
 * bucket (`bounds.length`).
 */
function bucketAbove(bounds: Float64Array, value: number): number {
  const n = bounds.length;
  let i = 1;
  while (i < n && value > (bounds[i] as number)) i++;
  return i;
}

import type { NodeStatus, RunActivity } from '@phys/core';
import type { Registry } from 'prom-client';
import { HistogramFamily, type HistogramSeries, type Series, ValueFamily } from './families.js';

/**
 * Bucket bounds, in seconds, of the duration histograms: from a millisecond (an inline stage) to
 * a week (a cluster job that queued for days), roughly ×2–×3 apart so that a p95 is read within
 * a factor of about two at every scale: 1 ms, 5 ms, 10 ms, 50 ms, 100 ms, 250 ms, 500 ms, 1 s,
 * 2.5 s, 5 s, 10 s, 30 s, 1 min, 2 min, 5 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 1 d, 2 d, 7 d.
 * @public
 */
export const DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200,
  14400, 28800, 86400, 172800, 604800,
]);

/** Every metric the collector exports, by name (see docs/metrics.md). @public */
export const METRIC_NAMES = Object.freeze({
  runsStarted: 'phys_runs_started_total',
  runs: 'phys_runs_total',
  runDuration: 'phys_run_duration_seconds',
  runsActive: 'phys_runs_active',
  nodes: 'phys_nodes_total',
  nodeDuration: 'phys_node_duration_seconds',
  queueWait: 'phys_node_queue_wait_seconds',
  retries: 'phys_node_retries_total',
  nodesRunning: 'phys_nodes_running',
  nodesQueued: 'phys_nodes_queued',
  jobsInFlight: 'phys_scheduler_jobs_in_flight',
  cacheHits: 'phys_cache_hits_total',
  cacheMisses: 'phys_cache_misses_total',
  cacheRestoredBytes: 'phys_cache_restored_bytes_total',
  cacheStoredBytes: 'phys_cache_stored_bytes_total',
} as const);

/** A run that started and has not ended, as the gauges sample it. */
export interface ActiveRun {
  readonly pipeline: string;
  readonly scheduler: string;
  readonly activity: RunActivity | undefined;
}

const STATUSES: readonly NodeStatus[] = [
  'QUEUED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'CACHED',
];
const STATUS_INDEX: Readonly<Record<string, number>> = Object.fromEntries(
  STATUSES.map((s, i) => [s, i]),
);

/** A node status' index in the per-status arrays (unknown ones share the last slot). */
export function statusIndex(status: string): number {
  return STATUS_INDEX[status] ?? STATUSES.length;
}

/** The series of one stage of one pipeline, created as its events first arrive. */
export class StageSeries {
  readonly #m: PhysMetrics;
  readonly #pipeline: string;
  readonly #stage: string;
  readonly #nodes: (Series | undefined)[] = [];
  readonly #durations: (HistogramSeries | undefined)[] = [];
  #queueWait: HistogramSeries | undefined;
  #hits: Series | undefined;
  #misses: Series | undefined;
  #restored: Series | undefined;
  #stored: Series | undefined;

  constructor(metrics: PhysMetrics, pipeline: string, stage: string) {
    this.#m = metrics;
    this.#pipeline = pipeline;
    this.#stage = stage;
  }

  nodes(status: string): Series {
    const i = statusIndex(status);
    let s = this.#nodes[i];
    if (s === undefined) {
      s = this.#m.nodes.child(this.#pipeline, this.#stage, status);
      this.#nodes[i] = s;
    }
    return s;
  }

  duration(status: string): HistogramSeries {
    const i = statusIndex(status);
    let s = this.#durations[i];
    if (s === undefined) {
      s = this.#m.nodeDuration.child(this.#pipeline, this.#stage, status);
      this.#durations[i] = s;
    }
    return s;
  }

  queueWait(): HistogramSeries {
    this.#queueWait ??= this.#m.queueWait.child(this.#pipeline, this.#stage);
    return this.#queueWait;
  }

  hits(): Series {
    this.#hits ??= this.#m.cacheHits.child(this.#pipeline, this.#stage);
    return this.#hits;
  }

  misses(): Series {
    this.#misses ??= this.#m.cacheMisses.child(this.#pipeline, this.#stage);
    return this.#misses;
  }

  restoredBytes(): Series {
    this.#restored ??= this.#m.cacheRestoredBytes.child(this.#pipeline, this.#stage);
    return this.#restored;
  }

  storedBytes(): Series {
    this.#stored ??= this.#m.cacheStoredBytes.child(this.#pipeline, this.#stage);
    return this.#stored;
  }
}

/** The series of one pipeline, with its stages'. */
export class PipelineSeries {
  readonly name: string;
  readonly started: Series;
  readonly #m: PhysMetrics;
  readonly #stages = new Map<string, StageSeries>();
  readonly #runs: (Series | undefined)[] = [];
  readonly #durations: (HistogramSeries | undefined)[] = [];
  readonly #retries = new Map<string, Series>();
  #lastStage: StageSeries | undefined;
  #lastStageName: string | undefined;

  constructor(metrics: PhysMetrics, name: string) {
    this.#m = metrics;
    this.name = name;
    this.started = metrics.runsStarted.child(name);
  }

  stage(name: string): StageSeries {
    if (name === this.#lastStageName) return this.#lastStage as StageSeries;
    let s = this.#stages.get(name);
    if (s === undefined) {
      s = new StageSeries(this.#m, this.name, name);
      this.#stages.set(name, s);
    }
    this.#lastStageName = name;
    this.#lastStage = s;
    return s;
  }

  runs(status: string): Series {
    const i = statusIndex(status);
    let s = this.#runs[i];
    if (s === undefined) {
      s = this.#m.runs.child(this.name, status);
      this.#runs[i] = s;
    }
    return s;
  }

  runDuration(status: string): HistogramSeries {
    const i = statusIndex(status);
    let s = this.#durations[i];
    if (s === undefined) {
      s = this.#m.runDuration.child(this.name, status);
      this.#durations[i] = s;
    }
    return s;
  }

  retries(errorCode: string, stage: string): Series {
    const key = `${stage}\u0000${errorCode}`;
    let s = this.#retries.get(key);
    if (s === undefined) {
      s = this.#m.retries.child(this.name, stage, errorCode);
      this.#retries.set(key, s);
    }
    return s;
  }
}

/** The metric families, registered in one registry. Labels never carry a run or node id. */
export class PhysMetrics {
  readonly runsStarted: ValueFamily;
  readonly runs: ValueFamily;
  readonly runDuration: HistogramFamily;
  readonly runsActive: ValueFamily;
  readonly nodes: ValueFamily;
  readonly nodeDuration: HistogramFamily;
  readonly queueWait: HistogramFamily;
  readonly retries: ValueFamily;
  readonly nodesRunning: ValueFamily;
  readonly nodesQueued: ValueFamily;
  readonly jobsInFlight: ValueFamily;
  readonly cacheHits: ValueFamily;
  readonly cacheMisses: ValueFamily;
  readonly cacheRestoredBytes: ValueFamily;
  readonly cacheStoredBytes: ValueFamily;
  readonly #pipelines = new Map<string, PipelineSeries>();
  #last: PipelineSeries | undefined;

  /** `active` lists the runs going on now; the gauges are sampled from it when read. */
  constructor(registry: Registry, active: () => Iterable<ActiveRun>) {
    const n = METRIC_NAMES;
    const counter = (name: string, help: string, labels: readonly string[]) =>
      new ValueFamily('counter', name, help, labels).register(registry);
    const histogram = (name: string, help: string, labels: readonly string[]) =>
      new HistogramFamily(name, help, labels, DURATION_BUCKETS).register(registry);
    // Gauges read at a scrape or a push from the runs going on, so events never touch them.
    const sampled = (
      name: string,
      help: string,
      labels: readonly string[],
      read: (run: ActiveRun) => readonly [key: string, value: number] | undefined,
    ) =>
      new ValueFamily('gauge', name, help, labels, (family) => {
        family.zero();
        for (const run of active()) {
          const sample = read(run);
          if (sample !== undefined) family.child(sample[0]).value += sample[1];
        }
      }).register(registry);

    this.runsStarted = counter(n.runsStarted, 'Runs started, by pipeline.', ['pipeline']);
    this.runs = counter(n.runs, 'Runs ended, by pipeline and final status.', [
      'pipeline',
      'status',
    ]);
    this.runDuration = histogram(
      n.runDuration,
      'Wall-clock duration of ended runs in seconds, by pipeline and final status.',
      ['pipeline', 'status'],
    );
    this.runsActive = sampled(
      n.runsActive,
      'Runs going on now, by pipeline.',
      ['pipeline'],
      (r) => [r.pipeline, 1],
    );
    this.nodes = counter(
      n.nodes,
      'Nodes ended, by pipeline, stage and final status (COMPLETED, CACHED, FAILED, TIMEOUT, CANCELLED, SKIPPED).',
      ['pipeline', 'stage', 'status'],
    );
    this.nodeDuration = histogram(
      n.nodeDuration,
      "Duration in seconds of nodes' last attempt, by pipeline, stage and final status (nodes that ran: not CACHED or SKIPPED ones).",
      ['pipeline', 'stage', 'status'],
    );
    this.queueWait = histogram(
      n.queueWait,
      'Seconds from a node being ready to its attempt starting, by pipeline and stage.',
      ['pipeline', 'stage'],
    );
    this.retries = counter(
      n.retries,
      'Node attempts that failed and were retried, by pipeline, stage and error code.',
      ['pipeline', 'stage', 'error_code'],
    );
    this.nodesRunning = sampled(
      n.nodesRunning,
      'Nodes whose attempt is running now, by pipeline.',
      ['pipeline'],
      (r) => (r.activity === undefined ? undefined : [r.pipeline, r.activity.running]),
    );
    this.nodesQueued = sampled(
      n.nodesQueued,
      "Nodes ready to run that have not started (waiting for a slot, or in a scheduler's queue), by pipeline.",
      ['pipeline'],
      (r) => (r.activity === undefined ? undefined : [r.pipeline, r.activity.queued]),
    );
    this.jobsInFlight = sampled(
      n.jobsInFlight,
      'Attempts handed to a scheduler that have not ended (queued or running there), by scheduler.',
      ['scheduler'],
      (r) => (r.activity === undefined ? undefined : [r.scheduler, r.activity.jobs]),
    );
    this.cacheHits = counter(
      n.cacheHits,
      'Node results read from the cache, by pipeline and stage.',
      ['pipeline', 'stage'],
    );
    this.cacheMisses = counter(
      n.cacheMisses,
      'Cache lookups that found no usable entry, by pipeline and stage.',
      ['pipeline', 'stage'],
    );
    this.cacheRestoredBytes = counter(
      n.cacheRestoredBytes,
      'Bytes of node results read from the cache, by pipeline and stage.',
      ['pipeline', 'stage'],
    );
    this.cacheStoredBytes = counter(
      n.cacheStoredBytes,
      'Bytes of node results written to the cache, by pipeline and stage.',
      ['pipeline', 'stage'],
    );
  }

  pipeline(name: string): PipelineSeries {
    const last = this.#last;
    if (last !== undefined && last.name === name) return last;
    let p = this.#pipelines.get(name);
    if (p === undefined) {
      p = new PipelineSeries(this, name);
      this.#pipelines.set(name, p);
    }
    this.#last = p;
    return p;
  }
}

import {
  type CacheMetric,
  ConfigError,
  createConsoleLogger,
  type Logger,
  type MetricsCollector,
  type NodeEndMetric,
  type NodeStartMetric,
  type NodeSummaryBuckets,
  type NodeSummaryMetric,
  type RetryMetric,
  type RunEndMetric,
  type RunStartMetric,
} from '@phys/core';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { type ActiveRun, DURATION_BUCKETS, PhysMetrics, type PipelineSeries } from './metrics.js';
import {
  type MetricsPrometheusOptions,
  parseCollectorOptions,
  type ResolvedMetricsPrometheusOptions,
} from './options.js';
import { Pusher, type PushMode } from './push.js';
import { serveMetrics } from './serve.js';

/**
 * Options of {@link PrometheusMetricsCollector}: those of the plugin, plus the short form
 * `{ endpoint, jobName }` for `push`, an own registry and a logger.
 * @public
 */
export interface PrometheusMetricsCollectorOptions extends MetricsPrometheusOptions {
  /** Short for `push: { endpoint, jobName }`. */
  readonly endpoint?: string;
  /** With `endpoint`: the `job` label (default `phys`). */
  readonly jobName?: string;
  /** The registry to fill (default: a new one; never prom-client's global registry). */
  readonly registry?: Registry;
  /** Where push failures are reported (default: warnings on stderr). */
  readonly logger?: Logger;
}

const SUMMARY_BUCKETS: NodeSummaryBuckets = Object.freeze({
  duration: DURATION_BUCKETS,
  queue: DURATION_BUCKETS,
});

interface Run extends ActiveRun {
  readonly series: PipelineSeries;
}

/**
 * A phys `MetricsCollector` that keeps Prometheus metrics of runs and nodes in its own
 * prom-client `Registry`, serves them at `/metrics` (`serve`, started by
 * {@link PrometheusMetricsCollector.start}) and pushes them to a Pushgateway or Prometheus'
 * remote-write receiver (`push`) at every run's end and every `intervalSeconds`. Metric labels
 * never hold a run or node id.
 *
 * @example
 * ```ts
 * setMetricsCollector(new PrometheusMetricsCollector({ endpoint: 'http://gateway:9091', jobName: 'lab' }));
 * ```
 * @public
 */
export class PrometheusMetricsCollector implements MetricsCollector {
  readonly name = 'prometheus';
  /** Nodes run in place come binned into the histograms' own buckets (onNodeSummary). */
  readonly nodeSummaryBuckets: NodeSummaryBuckets = SUMMARY_BUCKETS;
  /** The registry the metrics are in. */
  readonly registry: Registry;
  /** The validated options. */
  readonly options: ResolvedMetricsPrometheusOptions;
  readonly #metrics: PhysMetrics;
  readonly #runs = new Map<string, Run>();
  readonly #pusher: Pusher | undefined;
  readonly #logger: Logger;
  #lastRunId: string | undefined;
  #lastRun: Run | undefined;
  #server: { readonly url: string; close(): Promise<void> } | undefined;
  #starting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: PrometheusMetricsCollectorOptions = {}) {
    const { registry, logger, endpoint, jobName, ...rest } = options;
    let input: Record<string, unknown> = rest;
    if (endpoint !== undefined || jobName !== undefined) {
      if (rest.push !== undefined) {
        throw new ConfigError(
          'PHYS_CONFIG_INVALID',
          'PrometheusMetricsCollector: give either endpoint (and jobName) or push, not both.',
          { issues: [{ path: 'options.endpoint', message: 'given together with push' }] },
        );
      }
      input = { ...rest, push: { endpoint, ...(jobName === undefined ? {} : { jobName }) } };
    }
    this.options = parseCollectorOptions(input, 'options');
    this.registry = registry ?? new Registry();
    if (Object.keys(this.options.labels).length > 0) {
      this.registry.setDefaultLabels(this.options.labels);
    }
    this.#logger = logger ?? createConsoleLogger('warn');
    this.#metrics = new PhysMetrics(this.registry, () => this.#runs.values());
    if (this.options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.#pusher =
      this.options.push === undefined
        ? undefined
        : new Pusher(this.options.push, this.registry, this.#logger);
  }

  /**
   * The URL of the `/metrics` endpoint, once {@link PrometheusMetricsCollector.start} or
   * {@link PrometheusMetricsCollector.serve} started it.
   */
  get url(): string | undefined {
    return this.#server?.url;
  }

  /** Where pushes go, once known (detected at the first push when `push.mode` is not given). */
  get pushMode(): PushMode | undefined {
    return this.#pusher?.mode;
  }

  /** Pushes that reached their target and pushes that did not, since the collector was made. */
  get pushStats(): { readonly succeeded: number; readonly failed: number } {
    return { succeeded: this.#pusher?.succeeded ?? 0, failed: this.#pusher?.failed ?? 0 };
  }

  /** Starts the `/metrics` endpoint when the options have `serve`. Safe to call twice. */
  async start(): Promise<void> {
    const serve = this.options.serve;
    if (serve !== undefined) await this.serve(serve.port, serve.host);
  }

  /**
   * Serves `/metrics` on `host:port` (one endpoint per collector; a second call is a no-op). A port
   * in use is a `PhysError` `PHYS_METRICS_PORT_IN_USE`.
   */
  async serve(port: number, host = '127.0.0.1'): Promise<void> {
    this.#starting ??= serveMetrics(this.registry, port, host).then(
      (server) => {
        this.#server = server;
      },
      (error: unknown) => {
        this.#starting = undefined;
        throw error;
      },
    );
    await this.#starting;
  }

  /**
   * Pushes now, as run `runId` (default: the newest run going on), besides the pushes at run
   * ends and every `intervalSeconds`. Resolves when done; never rejects (a failure is logged).
   */
  async pushNow(runId?: string): Promise<void> {
    const id = runId ?? [...this.#runs.keys()].at(-1);
    if (this.#pusher !== undefined && id !== undefined) await this.#pusher.push(id);
  }

  /** Stops the endpoint and the interval, and waits for the pushes already queued. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    await this.#starting?.catch(() => {});
    const server = this.#server;
    this.#server = undefined;
    this.#starting = undefined;
    await Promise.all([server?.close(), this.#pusher?.idle()]);
  }

  // --- MetricsCollector ----------------------------------------------------------------------

  onRunStart(e: RunStartMetric): void {
    const series = this.#metrics.pipeline(e.pipeline);
    series.started.value++;
    const run: Run = {
      pipeline: e.pipeline,
      scheduler: e.scheduler ?? 'unknown',
      activity: e.activity,
      series,
    };
    this.#runs.set(e.runId, run);
    this.#lastRunId = e.runId;
    this.#lastRun = run;
    this.#startTimer();
  }

  onRunEnd(e: RunEndMetric): void {
    const series = this.#run(e.runId, e.pipeline).series;
    series.runs(e.status).value++;
    series.runDuration(e.status).observe(e.durationSeconds);
    this.#runs.delete(e.runId);
    if (this.#lastRunId === e.runId) {
      this.#lastRunId = undefined;
      this.#lastRun = undefined;
    }
    if (this.#runs.size === 0) this.#stopTimer();
    const push = this.options.push;
    if (this.#pusher !== undefined && push !== undefined) {
      // Not awaited: a slow or absent gateway never holds up the run (close() waits for it).
      void this.#pusher.push(
        e.runId,
        push.deleteOnSuccess && e.status === 'COMPLETED' ? 'delete' : 'push',
      );
    }
  }

  onNodeStart(e: NodeStartMetric): void {
    this.#run(e.runId, e.pipeline).series.stage(e.stage).queueWait().observe(e.queueSeconds);
  }

  onNodeEnd(e: NodeEndMetric): void {
    const stage = this.#run(e.runId, e.pipeline).series.stage(e.stage);
    stage.nodes(e.status).value++;
    // CACHED and SKIPPED nodes did not run: their 0 s would drag the duration quantiles down.
    if (e.status !== 'CACHED' && e.status !== 'SKIPPED' && e.attempt > 0) {
      stage.duration(e.status).observe(e.durationSeconds);
    }
  }

  /**
   * Nodes of one stage that ran back to back and COMPLETED, binned by the executor into this
   * collector's buckets ({@link PrometheusMetricsCollector.nodeSummaryBuckets}): what their starts
   * and ends would count, added to each histogram's buckets, sum and count at once.
   */
  onNodeSummary(s: NodeSummaryMetric): void {
    if (s.count === 0) return;
    const stage = this.#run(s.runId, s.pipeline).series.stage(s.stage);
    stage.nodes('COMPLETED').value += s.count;
    stage.queueWait().add(s.queueCounts, s.queueSum, s.count);
    stage.duration('COMPLETED').add(s.durationCounts, s.durationSum, s.count);
  }

  onRetry(e: RetryMetric): void {
    this.#run(e.runId, e.pipeline).series.retries(e.errorCode, e.stage ?? '').value++;
  }

  onCache(e: CacheMetric): void {
    const stage = this.#run(e.runId, e.pipeline).series.stage(e.stage);
    if (e.outcome === 'hit') {
      stage.hits().value++;
      stage.restoredBytes().value += e.bytes;
    } else if (e.outcome === 'miss') {
      stage.misses().value++;
    } else {
      stage.storedBytes().value += e.bytes;
    }
  }

  // --- internals -----------------------------------------------------------------------------

  /** The run `runId` (one that started before this collector was set is adopted here). */
  #run(runId: string, pipeline: string): Run {
    if (runId === this.#lastRunId) return this.#lastRun as Run;
    let run = this.#runs.get(runId);
    if (run === undefined) {
      run = {
        pipeline,
        scheduler: 'unknown',
        activity: undefined,
        series: this.#metrics.pipeline(pipeline),
      };
      this.#runs.set(runId, run);
    }
    this.#lastRunId = runId;
    this.#lastRun = run;
    return run;
  }

  #startTimer(): void {
    const seconds = this.options.push?.intervalSeconds;
    if (seconds === undefined || this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => {
      const pusher = this.#pusher;
      // The newest run going on names the group; a push still under way skips this tick.
      const runId = [...this.#runs.keys()].at(-1);
      if (pusher === undefined || pusher.busy || runId === undefined) return;
      void pusher.push(runId);
    }, seconds * 1000);
    // Never the reason a process stays alive.
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

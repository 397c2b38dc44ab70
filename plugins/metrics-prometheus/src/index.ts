// @phys/metrics-prometheus — Prometheus metrics of phys runs and nodes: a /metrics endpoint to
// scrape, pushes to a Pushgateway or to Prometheus' remote-write receiver, a Grafana dashboard.

// the collector
export type { PrometheusMetricsCollectorOptions } from './collector.js';
export { PrometheusMetricsCollector } from './collector.js';
// metric names and buckets
export { DURATION_BUCKETS, METRIC_NAMES } from './metrics.js';
// options
export type {
  MetricsPrometheusOptions,
  ResolvedMetricsPrometheusOptions,
  ResolvedPushOptions,
  ResolvedServeOptions,
} from './options.js';
export {
  metricsPrometheusOptionsSchema,
  pushOptionsSchema,
  serveOptionsSchema,
} from './options.js';
// the plugin
export { collectorOf, default, METRICS_PORT_ENV } from './plugin.js';
export type { PushMode } from './push.js';

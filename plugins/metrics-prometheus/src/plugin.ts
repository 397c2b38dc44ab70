import {
  ConfigError,
  definePlugin,
  type MetricsCollector,
  MetricsCollectorToken,
  type PhysPlugin,
  parsePluginOptions,
  type Token,
} from '@phys/core';
import { PrometheusMetricsCollector } from './collector.js';
import {
  type MetricsPrometheusOptions,
  metricsPrometheusOptionsSchema,
  type ResolvedMetricsPrometheusOptions,
} from './options.js';

/**
 * The environment variable `phys run --metrics-port <port>` sets (the CLI does not depend on this
 * plugin): when it holds a port, the plugin serves `/metrics` there, on `serve.host` (default
 * loopback), whatever `serve` says.
 * @public
 */
export const METRICS_PORT_ENV = 'PHYS_METRICS_PORT';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'metrics-prometheus': MetricsPrometheusOptions;
  }
}

/** The port asked for through {@link METRICS_PORT_ENV}, if any. */
function portFromEnv(): number | undefined {
  const raw = process.env[METRICS_PORT_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `${METRICS_PORT_ENV}=${raw} is not a port: give an integer from 0 to 65535 (0 takes any free port).`,
      { issues: [{ path: METRICS_PORT_ENV, message: 'not a port number' }] },
    );
  }
  return port;
}

/**
 * The `metrics-prometheus` plugin: registers a {@link PrometheusMetricsCollector} for the runs
 * of the config, starts its `/metrics` endpoint in `init` (only in the process that runs the
 * pipeline: worker threads and cluster jobs that load the config do not run `init`) and closes
 * it, after the last pushes, on dispose.
 * @public
 */
export default function metricsPrometheus(
  options?: MetricsPrometheusOptions,
): PhysPlugin<ResolvedMetricsPrometheusOptions> {
  const parsed = parsePluginOptions('metrics-prometheus', metricsPrometheusOptionsSchema, options);
  let collector: PrometheusMetricsCollector | undefined;
  return definePlugin<ResolvedMetricsPrometheusOptions>({
    name: 'metrics-prometheus',
    provides: ['metrics'],
    options: parsed,
    register(ctx) {
      collector = new PrometheusMetricsCollector({ ...parsed, logger: ctx.logger });
      ctx.container.register(MetricsCollectorToken, { useValue: collector });
    },
    async init(ctx) {
      const port = portFromEnv() ?? parsed.serve?.port;
      if (collector === undefined || port === undefined) return;
      await collector.serve(port, parsed.serve?.host ?? '127.0.0.1');
      ctx.logger.info(`serving Prometheus metrics at ${collector.url}`);
    },
    async dispose() {
      await collector?.close();
    },
  });
}

/** The collector the plugin registered (for tests and hosts that want its URL). @public */
export function collectorOf(runtime: {
  resolveAll(token: Token<MetricsCollector>): MetricsCollector[];
}): PrometheusMetricsCollector | undefined {
  return runtime
    .resolveAll(MetricsCollectorToken)
    .find((c): c is PrometheusMetricsCollector => c instanceof PrometheusMetricsCollector);
}

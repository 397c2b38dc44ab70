import { ConfigError, formatIssues, strictSchema, zodIssues } from '@phys/core';
import { z } from 'zod';

// Prometheus' rules for names: https://prometheus.io/docs/concepts/data_model/
const labelName = z
  .string()
  .regex(
    /^[a-zA-Z_][a-zA-Z0-9_]*$/,
    'a label name: letters, digits and _, not starting with a digit',
  )
  .refine((name) => !name.startsWith('__'), 'names starting with __ are reserved by Prometheus');

/** Labels every series gets, e.g. `{ lab: 'optics', cluster: 'hal' }`. */
const labels = z.record(labelName, z.string());

/** zod schema of `serve`: the `/metrics` endpoint Prometheus scrapes. @public */
export const serveOptionsSchema = z.object({
  /** Port of the endpoint; 0 takes a free one (see `PrometheusMetricsCollector.url`). */
  port: z.number().int().min(0).max(65535).default(9464),
  /** Address to listen on: loopback by default; `0.0.0.0` to be scraped from other hosts. */
  host: z.string().min(1).default('127.0.0.1'),
});

/** zod schema of `push`: a Pushgateway or Prometheus' remote-write receiver. @public */
export const pushOptionsSchema = z
  .object({
    /**
     * The Pushgateway (`http://gateway:9091`) or the Prometheus server (`http://prometheus:9090`,
     * or its `/api/v1/write` URL) to push to.
     */
    endpoint: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
    /** The `job` label of what is pushed. */
    jobName: z.string().min(1).default('phys'),
    /**
     * `pushgateway` or `remote-write`. Absent: a URL ending in `/api/v1/write` is remote write,
     * a server that answers Prometheus' `/api/v1/status/buildinfo` gets remote write, anything
     * else is taken for a Pushgateway.
     */
    mode: z.enum(['pushgateway', 'remote-write']).optional(),
    /**
     * More labels of the Pushgateway group (after `job`; the run id is added as `run_id`), or of
     * every remote-written series.
     */
    groupingKey: labels.default({}),
    /** Also push every this many seconds while runs are going (default: only at a run's end). */
    intervalSeconds: z.number().min(1).optional(),
    /**
     * Pushgateway: when a run completes, delete its group instead of pushing its final numbers,
     * so the gateway keeps only runs that are going, failed or were cancelled. Use it with
     * `intervalSeconds`: Prometheus keeps what it scraped of the run while it went.
     */
    deleteOnSuccess: z.boolean().default(false),
    /** Seconds one request may take. */
    timeoutSeconds: z.number().positive().max(300).default(5),
    /** Further tries of a push that failed on the network or with a 5xx or 429 answer. */
    retries: z.number().int().min(0).max(10).default(2),
    /** Extra request headers, e.g. for a gateway behind a proxy. */
    headers: z.record(z.string().min(1), z.string()).optional(),
    /** HTTP basic authentication. */
    basicAuth: z.object({ username: z.string().min(1), password: z.string() }).optional(),
    /** Sent as `Authorization: Bearer <token>`. */
    bearerToken: z.string().min(1).optional(),
  })
  .refine((push) => push.basicAuth === undefined || push.bearerToken === undefined, {
    path: ['bearerToken'],
    message: 'give basicAuth or bearerToken, not both',
  });

/** zod schema of the options of the `metrics-prometheus` plugin and of the collector. @public */
export const metricsPrometheusOptionsSchema = z.object({
  /** Serve `/metrics` for Prometheus to scrape while the process is alive. */
  serve: serveOptionsSchema.optional(),
  /** Push to a Pushgateway or to Prometheus' remote-write receiver at every run's end. */
  push: pushOptionsSchema.optional(),
  /** Add prom-client's default process metrics (`process_*`, `nodejs_*`). */
  defaultMetrics: z.boolean().default(false),
  /** Labels every series gets (keep them few and constant). */
  labels: labels.default({}),
});

/** Options of the `metrics-prometheus` plugin, as written in `phys.config.ts`. @public */
export type MetricsPrometheusOptions = z.input<typeof metricsPrometheusOptionsSchema>;
/** The options with their defaults filled in. @public */
export type ResolvedMetricsPrometheusOptions = z.output<typeof metricsPrometheusOptionsSchema>;
/** `push` with its defaults filled in. @public */
export type ResolvedPushOptions = z.output<typeof pushOptionsSchema>;
/** `serve` with its defaults filled in. @public */
export type ResolvedServeOptions = z.output<typeof serveOptionsSchema>;

/**
 * Validates options for `new PrometheusMetricsCollector(...)`: every problem in one
 * `ConfigError` whose issue paths start at `where`.
 */
export function parseCollectorOptions(
  options: unknown,
  where: string,
): ResolvedMetricsPrometheusOptions {
  const result = strictSchema(metricsPrometheusOptionsSchema).safeParse(options ?? {});
  if (result.success) return result.data;
  const issues = zodIssues(result.error, [where]);
  throw new ConfigError(
    'PHYS_CONFIG_INVALID',
    `Invalid options for PrometheusMetricsCollector (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}\nSee the README of @phys/metrics-prometheus for what it accepts.`,
    { issues, details: { issues } },
  );
}

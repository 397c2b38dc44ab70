import { ConfigError, MetricsCollectorToken } from '@phys/core';
import { createTestRuntime } from '@phys/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { PrometheusMetricsCollector } from '../src/collector.js';
import metricsPrometheus, { collectorOf, METRICS_PORT_ENV } from '../src/plugin.js';

describe('metrics-prometheus plugin', () => {
  afterEach(() => {
    delete process.env[METRICS_PORT_ENV];
  });

  it('registers its collector as a metrics provider', async () => {
    const runtime = await createTestRuntime({ plugins: [metricsPrometheus()] });
    try {
      expect(runtime.plugins.map((p) => [p.name, p.provides])).toEqual([
        ['metrics-prometheus', ['metrics']],
      ]);
      const [collector] = runtime.resolveAll(MetricsCollectorToken);
      expect(collector).toBeInstanceOf(PrometheusMetricsCollector);
      expect(collectorOf(runtime)).toBe(collector);
      expect(collectorOf(runtime)?.url).toBeUndefined();
    } finally {
      await runtime.dispose();
    }
  });

  it('serves /metrics from init, and stops on dispose', async () => {
    const runtime = await createTestRuntime({
      plugins: [metricsPrometheus({ serve: { port: 0 } })],
    });
    const url = collectorOf(runtime)?.url as string;
    expect((await fetch(url)).status).toBe(200);
    await runtime.dispose();
    await expect(fetch(url)).rejects.toThrow();
  });

  it(`serves on the port ${METRICS_PORT_ENV} names (what phys run --metrics-port sets)`, async () => {
    process.env[METRICS_PORT_ENV] = '0';
    const runtime = await createTestRuntime({ plugins: [metricsPrometheus()] });
    try {
      expect(collectorOf(runtime)?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    } finally {
      await runtime.dispose();
    }
    process.env[METRICS_PORT_ENV] = 'ninety';
    await expect(createTestRuntime({ plugins: [metricsPrometheus()] })).rejects.toThrow(
      /PHYS_METRICS_PORT=ninety is not a port/,
    );
  });

  it('names the path of a misspelled option', () => {
    const error = (() => {
      try {
        metricsPrometheus({ push: { endpoint: 'http://g:9091', intervalSecond: 10 } as never });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues.map((i) => i.path)).toEqual([
      'plugins.metrics-prometheus.push.intervalSecond',
    ]);
  });

  it('fills in the defaults', () => {
    expect(metricsPrometheus({ serve: {}, push: { endpoint: 'http://g:9091' } }).options).toEqual({
      serve: { port: 9464, host: '127.0.0.1' },
      push: {
        endpoint: 'http://g:9091',
        jobName: 'phys',
        groupingKey: {},
        deleteOnSuccess: false,
        timeoutSeconds: 5,
        retries: 2,
      },
      defaultMetrics: false,
      labels: {},
    });
  });
});

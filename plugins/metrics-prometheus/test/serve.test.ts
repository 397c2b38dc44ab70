// The /metrics endpoint over real HTTP on loopback.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PhysError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { PrometheusMetricsCollector } from '../src/collector.js';

/** A port something else listens on, and how to free it. */
async function occupiedPort(): Promise<{ port: number; free(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    free: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('serve', () => {
  it('serves the metrics at /metrics with the exposition content type, and 404 elsewhere', async () => {
    const c = new PrometheusMetricsCollector({ serve: { port: 0 } });
    await c.start();
    try {
      c.onRunStart({ pipeline: 'lab', runId: 'r1', nodes: 1 });
      const url = c.url as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await response.text()).toContain('phys_runs_started_total{pipeline="lab"} 1');
      const elsewhere = await fetch(url.replace('/metrics', '/'));
      expect(elsewhere.status).toBe(404);
      expect(await elsewhere.text()).toContain('/metrics');
      expect((await fetch(url.replace('/metrics', '/metrics/x'))).status).toBe(404);
      expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    } finally {
      await c.close();
    }
  });

  it('stops serving on close', async () => {
    const c = new PrometheusMetricsCollector({ serve: { port: 0 } });
    await c.start();
    const url = c.url as string;
    await c.close();
    expect(c.url).toBeUndefined();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('reports a port already in use as PHYS_METRICS_PORT_IN_USE, naming the port', async () => {
    const other = await occupiedPort();
    try {
      const c = new PrometheusMetricsCollector({ serve: { port: other.port } });
      const error = await c.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(PhysError.is(error)).toBe(true);
      expect((error as PhysError).code).toBe('PHYS_METRICS_PORT_IN_USE');
      expect((error as PhysError).message).toContain(`127.0.0.1:${other.port}`);
      expect((error as PhysError).message).toContain('already in use');
      // Once the port is free, the same collector can serve.
      await other.free();
      await c.start();
      expect(c.url).toBe(`http://127.0.0.1:${other.port}/metrics`);
      await c.close();
    } finally {
      await other.free().catch(() => {});
    }
  });
});

// Pushing when the gateway is away or behind a proxy. A gateway that is really there is in
// prometheus.integration.test.ts.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordingLogger } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { PrometheusMetricsCollector } from '../src/collector.js';

/** A port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A proxy in front of a gateway, as a lab may have: it records each request and answers with
 * the statuses given, in turn (then 200).
 */
async function proxy(statuses: number[] = []) {
  const requests: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] =
    [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function endRun(c: PrometheusMetricsCollector, runId: string): void {
  c.onRunStart({ pipeline: 'lab', runId, nodes: 1 });
  c.onNodeEnd({
    pipeline: 'lab',
    runId,
    node: 'a',
    stage: 's',
    status: 'COMPLETED',
    attempt: 1,
    durationSeconds: 1,
    cacheHit: false,
  });
  c.onRunEnd({ pipeline: 'lab', runId, status: 'COMPLETED', durationSeconds: 1, counts: {} });
}

describe('push', () => {
  it('reports an unreachable gateway once, as a warning, and never throws into the run', async () => {
    const logger = recordingLogger();
    const port = await closedPort();
    const c = new PrometheusMetricsCollector({
      push: { endpoint: `http://127.0.0.1:${port}`, mode: 'pushgateway', retries: 1 },
      logger,
    });
    // Events and run ends return at once; the pushes go on behind them.
    for (const id of ['r1', 'r2', 'r3']) expect(() => endRun(c, id)).not.toThrow();
    await c.close();
    expect(c.pushStats).toEqual({ succeeded: 0, failed: 3 });
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain(`Could not push metrics to http://127.0.0.1:${port}`);
    expect(logger.warnings[0]).toContain('ECONNREFUSED');
    expect(logger.warnings[0]).toContain('Runs go on unaffected');
  });

  it('reports it again only after a push worked in between', async () => {
    const logger = recordingLogger();
    const gateway = await proxy([503, 200, 503]);
    const c = new PrometheusMetricsCollector({
      push: { endpoint: gateway.url, mode: 'pushgateway', retries: 0 },
      logger,
    });
    endRun(c, 'r1');
    endRun(c, 'r2');
    endRun(c, 'r3');
    await c.close();
    await gateway.close();
    expect(c.pushStats).toEqual({ succeeded: 1, failed: 2 });
    expect(logger.warnings).toHaveLength(2);
  });

  it('retries a push answered 503, and not one answered 400', async () => {
    const gateway = await proxy([503, 503, 200, 400]);
    const logger = recordingLogger();
    const c = new PrometheusMetricsCollector({
      push: { endpoint: gateway.url, mode: 'pushgateway', retries: 2 },
      logger,
    });
    endRun(c, 'r1');
    endRun(c, 'r2');
    await c.close();
    await gateway.close();
    expect(gateway.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'PUT /metrics/job/phys/run_id/r1',
      'PUT /metrics/job/phys/run_id/r1',
      'PUT /metrics/job/phys/run_id/r1',
      'PUT /metrics/job/phys/run_id/r2',
    ]);
    expect(c.pushStats).toEqual({ succeeded: 1, failed: 1 });
    expect(logger.warnings[0]).toContain('answered 400');
  });

  it('sends basic auth, a bearer token and extra headers to a gateway behind a proxy', async () => {
    const gateway = await proxy();
    const basic = new PrometheusMetricsCollector({
      push: {
        endpoint: `${gateway.url}/`,
        mode: 'pushgateway',
        jobName: 'lab/a',
        basicAuth: { username: 'phys', password: 's3cret' },
        headers: { 'x-scope': 'optics' },
      },
    });
    endRun(basic, 'r1');
    await basic.close();
    const bearer = new PrometheusMetricsCollector({
      push: { endpoint: gateway.url, mode: 'pushgateway', bearerToken: 'tok' },
    });
    endRun(bearer, 'r2');
    await bearer.close();
    await gateway.close();
    const [first, second] = gateway.requests;
    // A job name with a slash travels base64url-encoded, as the Pushgateway expects.
    expect(first?.url).toBe('/metrics/job@base64/bGFiL2E/run_id/r1');
    expect(first?.headers.authorization).toBe(
      `Basic ${Buffer.from('phys:s3cret').toString('base64')}`,
    );
    expect(first?.headers['x-scope']).toBe('optics');
    expect(first?.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(first?.body).toContain(
      'phys_nodes_total{pipeline="lab",stage="s",status="COMPLETED"} 1',
    );
    expect(second?.headers.authorization).toBe('Bearer tok');
  });

  it('pushes every intervalSeconds while a run goes on', async () => {
    const gateway = await proxy();
    const c = new PrometheusMetricsCollector({
      push: { endpoint: gateway.url, mode: 'pushgateway', intervalSeconds: 1 },
    });
    c.onRunStart({ pipeline: 'lab', runId: 'long', nodes: 1 });
    while (gateway.requests.length < 2) await new Promise((r) => setTimeout(r, 100));
    c.onRunEnd({
      pipeline: 'lab',
      runId: 'long',
      status: 'COMPLETED',
      durationSeconds: 1,
      counts: {},
    });
    await c.close();
    const pushes = gateway.requests.length;
    await new Promise((r) => setTimeout(r, 1500));
    await gateway.close();
    // Interval pushes, then the end push; none once the run ended.
    expect(gateway.requests.length).toBe(pushes);
    expect(gateway.requests.every((r) => r.url === '/metrics/job/phys/run_id/long')).toBe(true);
  });
});

// `phys run --metrics-port` with the metrics-prometheus plugin: the run's metrics are served on
// that port while it goes. (Without a metrics plugin the flag is a usage error: packages/cli.)
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers/cli.js';

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('phys run --metrics-port (metrics-prometheus plugin)', () => {
  it("serves the run's metrics on the port while it goes", async () => {
    const port = await freePort();
    const { code, stdout, stderr } = await cli(
      ['run', 'scrape', '--metrics-port', String(port), '--progress', 'none'],
      { cwd: fixture('cli-metrics') },
    );
    expect(stderr).toContain(`serving Prometheus metrics at http://127.0.0.1:${port}/metrics`);
    expect(code).toBe(0);
    // The stage read the endpoint during the run: it showed the run going on.
    expect(stdout).toMatch(/a\.served\s+1$/m);
    // ... and the endpoint is gone once the command ended.
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('fails with PHYS_METRICS_PORT_IN_USE when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const { code, stderr } = await cli(['run', 'scrape', '--metrics-port', String(port)], {
        cwd: fixture('cli-metrics'),
      });
      expect(code).toBe(78);
      expect(stderr).toContain('PHYS_METRICS_PORT_IN_USE');
      expect(stderr).toContain(`127.0.0.1:${port}`);
      expect(stderr).toContain('already in use');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

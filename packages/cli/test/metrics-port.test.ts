// `phys run --metrics-port`: the CLI hands the port to whichever plugin provides metrics (it
// depends on none); without one, the flag is a usage error that says which plugin to add. The
// flag with the metrics-prometheus plugin: tests/integration/test/cli-metrics-prometheus.test.ts.
import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

describe('phys run --metrics-port', () => {
  it('without a metrics plugin: exit 64, naming the plugin to add', async () => {
    const { code, stdout, stderr } = await cli(['run', 'arith', '--metrics-port', '9464']);
    expect(code).toBe(64);
    expect(stdout).toBe('');
    expect(stderr).toContain('--metrics-port 9464: no plugin of');
    expect(stderr).toContain("Add 'metrics-prometheus' to its plugins");
    expect(stderr).toContain('pnpm add @phys/metrics-prometheus');
    expect(process.env.PHYS_METRICS_PORT).toBeUndefined();
  });

  it('rejects a value that is not a port', async () => {
    for (const port of ['abc', '-1', '70000', '1.5']) {
      const { code, stderr } = await cli(['run', 'arith', '--metrics-port', port]);
      expect(code).toBe(64);
      expect(stderr).toContain(`--metrics-port expects a port number from 0 to 65535`);
    }
  });

  it('is listed by phys run --help', async () => {
    const { stdout } = await cli(['run', '--help']);
    expect(stdout).toContain('--metrics-port <port>');
  });
});

// Collectors set in code with setMetricsCollector (the orchestration guide's form) see the runs
// that `phys run` makes through the executor-dag plugin, as plugin collectors do.
import { type MetricsCollector, setMetricsCollector } from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers/cli.js';

afterEach(() => setMetricsCollector(undefined));

describe('setMetricsCollector under phys run', () => {
  it('receives the run and node events of a DAG run', async () => {
    const seen: string[] = [];
    const recorder: MetricsCollector = {
      name: 'recorder',
      onRunStart: (e) => seen.push(`start ${e.pipeline}`),
      onRunEnd: (e) => {
        seen.push(`end ${e.pipeline} ${e.status}`);
      },
    };
    setMetricsCollector(recorder);
    // Before, the plugin passed only the collectors of plugins, and this saw nothing.
    const { code } = await cli(['run', 'fan', '--progress', 'none'], { cwd: fixture('cli-dag') });
    expect(code).toBe(0);
    expect(seen).toEqual(['start fan', 'end fan COMPLETED']);
  });
});

// The plugin on its own. Running a DAG through the executor-dag plugin as PBS jobs is tested in
// tests/integration/test/scheduler-pbs-executor-dag.test.ts.
import { ConfigError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import schedulerPbs from '../src/index.js';

describe('scheduler-pbs plugin', () => {
  it('rejects unknown and invalid options with every path', () => {
    let error: unknown;
    try {
      schedulerPbs({
        jobNamePrefix: '9lives',
        pollInterval: { initialSeconds: 0 },
        qeue: 'x',
      } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'plugins.scheduler-pbs.jobNamePrefix',
        'plugins.scheduler-pbs.pollInterval.initialSeconds',
        'plugins.scheduler-pbs.qeue',
      ]),
    );
  });
});

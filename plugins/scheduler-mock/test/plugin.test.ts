// The plugin on its own. Running a DAG through the executor-dag plugin on the mock cluster is
// tested in tests/integration/test/scheduler-mock-executor-dag.test.ts.
import { ConfigError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import schedulerMock from '../src/index.js';

describe('scheduler-mock plugin', () => {
  it('rejects unknown and invalid options with every path', () => {
    let error: unknown;
    try {
      schedulerMock({ hosts: 0, faults: [{ kind: 'explode' }], bogus: 1 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'plugins.scheduler-mock.hosts',
        'plugins.scheduler-mock.faults[0].kind',
        'plugins.scheduler-mock.bogus',
      ]),
    );
  });
});

// The executor-dag plugin running a DAG on the simulated cluster of the scheduler-mock plugin.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ExecutorToken, type NodeSpec, SchedulerToken } from '@phys/core';
import executorDag from '@phys/executor-dag';
import { createRuntime } from '@phys/runtime';
import schedulerMock, { MockHpcScheduler } from '@phys/scheduler-mock';
import { ConformanceEcho, conformanceConfigFile, conformanceStages } from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-mock-plugin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('scheduler-mock plugin', () => {
  it('runs a DAG on the mock cluster; a node-failure on the first attempt is retried', async () => {
    const configFile = conformanceConfigFile();
    const runtime = await createRuntime(
      {
        config: {
          plugins: [
            executorDag(),
            schedulerMock({
              workDir: join(dir, 'work'),
              hosts: 2,
              cpusPerHost: 2,
              queueLatencySeconds: 0.01,
              faults: [{ kind: 'node-fail', nodeId: 'scale', attempts: [1], afterSeconds: 0 }],
            }),
          ],
          stages: conformanceStages,
        },
        configDir: dirname(configFile),
        filepath: configFile,
      },
      { init: true },
    );
    try {
      const scheduler = runtime.resolve(SchedulerToken);
      expect(scheduler).toBeInstanceOf(MockHpcScheduler);
      expect((scheduler as MockHpcScheduler).configFile).toBe(configFile);
      const nodes: NodeSpec[] = [
        { id: 'load', stage: ConformanceEcho({ scale: 1, tag: 'load' }) },
        {
          id: 'scale',
          stage: ConformanceEcho({ scale: 10, tag: 'scale' }),
          deps: ['load'],
          retry: { maxAttempts: 2 },
        },
      ];
      const result = await runtime.resolve(ExecutorToken).execute({
        pipeline: 'on-mock',
        nodes,
        initialState: { values: new Float64Array([1, 2]) },
        container: runtime.container,
      });
      expect(result.status).toBe('COMPLETED');
      expect(result.nodes.load).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(result.nodes.scale).toMatchObject({ status: 'COMPLETED', attempts: 2 });
      const out = result.outputs.scale as { values: Float64Array };
      expect(out.values).toEqual(new Float64Array([10, 20]));
    } finally {
      await runtime.dispose();
    }
  });
});

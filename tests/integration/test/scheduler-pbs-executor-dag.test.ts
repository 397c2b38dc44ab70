// The executor-dag plugin running a DAG as PBS jobs through the scheduler-pbs plugin, on the fake
// PBS server of plugins/scheduler-pbs/test (one copy, shared with that plugin's own tests).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ExecutorToken, type NodeSpec, resources, SchedulerToken } from '@phys/core';
import executorDag from '@phys/executor-dag';
import { createRuntime } from '@phys/runtime';
import schedulerPbs, { PbsScheduler } from '@phys/scheduler-pbs';
import { ConformanceEcho, conformanceConfigFile, conformanceStages } from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakePbs, installFakePbs } from '../../../plugins/scheduler-pbs/test/fake-pbs.js';

let fake: FakePbs;
let dir: string;
beforeAll(async () => {
  fake = await installFakePbs();
  dir = await mkdtemp(join(tmpdir(), 'phys-pbs-plugin-'));
});
afterAll(async () => {
  await fake.shutdown();
  await rm(dir, { recursive: true, force: true });
});

describe('scheduler-pbs plugin', () => {
  it('runs a DAG through executor-dag as PBS jobs: the fan-out goes out as one job array', async () => {
    const configFile = conformanceConfigFile();
    const runtime = await createRuntime(
      {
        config: {
          plugins: [
            executorDag(),
            schedulerPbs({
              workDir: join(dir, 'work'),
              pollInterval: { initialSeconds: 0.05, maxSeconds: 0.2 },
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
      const scheduler = runtime.resolve(SchedulerToken) as PbsScheduler;
      expect(scheduler).toBeInstanceOf(PbsScheduler);
      const sweep: NodeSpec[] = [1, 2, 3, 4].map((k) => ({
        id: `scale-${k}`,
        stage: ConformanceEcho({ scale: k, tag: `k${k}` }),
        deps: ['load'],
        resources: resources({ cpu: 1, memory: '256Mi' }),
      }));
      const result = await runtime.resolve(ExecutorToken).execute({
        pipeline: 'on-pbs',
        nodes: [{ id: 'load', stage: ConformanceEcho({ scale: 1, tag: 'load' }) }, ...sweep],
        initialState: { values: new Float64Array([0.5]) },
        container: runtime.container,
      });
      expect(result.status).toBe('COMPLETED');
      for (const k of [1, 2, 3, 4]) {
        expect((result.outputs[`scale-${k}`] as { values: Float64Array }).values).toEqual(
          new Float64Array([0.5 * k]),
        );
      }
      // `load` alone, then the four ready sweep nodes in one array.
      expect(scheduler.commandCounts.qsub).toBe(2);
    } finally {
      await runtime.dispose();
    }
  });
});

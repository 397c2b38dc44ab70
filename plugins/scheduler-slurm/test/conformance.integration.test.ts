// The scheduler conformance suite of @phys/testing, on a real Slurm.
import { describeSchedulerConformance, taskCommand } from '@phys/testing';
import { SlurmScheduler } from '../src/index.js';
import { describeSlurm } from './helpers.js';

describeSlurm('SlurmScheduler conformance', () => {
  describeSchedulerConformance(
    'SlurmScheduler',
    ({ configFile, workDir }) => ({
      scheduler: new SlurmScheduler({
        configFile,
        workDir,
        taskCommand: taskCommand(),
        pollInterval: 0.3,
        maxPollInterval: 2,
        resultTimeout: 10,
        batchWindow: 0.05,
      }),
    }),
    {
      // Slurm enforces whole minutes; the scheduler enforces timeoutSeconds itself, counted
      // from when a poll first sees the job running, so a short limit is checked quickly.
      timeoutSeconds: 2,
      // The test cluster has no GPUs (no gres); the cpu and memory requests are checked.
      resources: { cpu: 2, gpu: 0, memory: '64Mi' },
      testTimeoutMs: 240_000,
    },
  );
});

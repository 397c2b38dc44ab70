// The plugin's proof of conformance: the same suite @phys/scheduler-slurm and -pbs pass.
import { describeSchedulerConformance } from '@phys/testing';
import { SandboxScheduler } from '../src/index.js';

describeSchedulerConformance('SandboxScheduler', ({ configFile, workDir }) => ({
  scheduler: new SandboxScheduler({ configFile, workDir, maxConcurrent: 3, maxCpu: 4 }),
}));

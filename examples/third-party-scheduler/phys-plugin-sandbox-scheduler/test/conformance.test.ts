// The plugin's proof of conformance: the same suite @phys/scheduler-slurm and -pbs pass.
import { describeSchedulerConformance, taskCommand } from '@phys/testing';
import { SandboxScheduler } from '../src/index.js';

describeSchedulerConformance('SandboxScheduler', ({ configFile, workDir }) => ({
  scheduler: new SandboxScheduler({
    configFile,
    workDir,
    taskCommand: taskCommand(),
    maxConcurrent: 3,
    maxCpu: 4,
  }),
}));

import { describeSchedulerConformance, taskCommand } from '@phys/testing';
import { MockHpcScheduler } from '../src/index.js';

describeSchedulerConformance('MockHpcScheduler', ({ configFile, workDir }) => ({
  scheduler: new MockHpcScheduler({
    configFile,
    workDir,
    taskCommand: taskCommand(),
    hosts: 2,
    cpusPerHost: 4,
    gpusPerHost: 2,
    memoryPerHost: '2Gi',
    queueLatencySeconds: [0.01, 0.1],
    graceSeconds: 2,
  }),
}));

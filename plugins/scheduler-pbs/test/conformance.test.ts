import { describeSchedulerConformance, taskCommand } from '@phys/testing';
import { PbsScheduler } from '../src/index.js';
import { type FakePbs, installFakePbs } from './fake-pbs.js';

// Against the fake qsub/qstat/qdel of ./fake-pbs (no real PBS runs on Debian).
let fake: FakePbs;

describeSchedulerConformance('PbsScheduler (fake PBS Pro)', async ({ configFile, workDir }) => {
  fake = await installFakePbs({ killDelayMs: 1000 });
  return {
    scheduler: new PbsScheduler({
      configFile,
      workDir,
      taskCommand: taskCommand(),
      maxResources: { cpu: 8, gpu: 2, memory: '16Gi' },
      pollInterval: { initialSeconds: 0.05, maxSeconds: 0.2 },
      lostJobGraceSeconds: 2,
    }),
    cleanup: () => fake.shutdown(),
  };
});

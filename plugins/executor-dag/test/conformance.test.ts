import { describeSchedulerConformance } from '@phys/testing';
import { LocalScheduler } from '../src/local-scheduler.js';

// LocalScheduler behind the plain Scheduler contract (what callers other than DagExecutor use),
// in both isolations that leave the executor's thread.
for (const submitIsolation of ['process', 'thread'] as const) {
  describeSchedulerConformance(
    `LocalScheduler (${submitIsolation})`,
    ({ configFile, workDir }) => ({
      scheduler: new LocalScheduler({
        configFile,
        workDir,
        submitIsolation,
        maxWorkers: 4,
        maxCpu: 4,
        maxGpu: 2,
        graceSeconds: 2,
      }),
    }),
  );
}

import { defineProject, mergeConfig } from 'vitest/config';
import { sharedProject } from '../../vitest.shared.js';

export default mergeConfig(
  sharedProject('@phys/scheduler-slurm'),
  defineProject({
    // The integration files mostly wait for Slurm jobs: run them side by side even on 2 cores.
    test: { maxWorkers: 2 },
  }),
);

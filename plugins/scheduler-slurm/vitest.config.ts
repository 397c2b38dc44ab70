import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { sharedProject } from '../../vitest.shared.js';

// The node-failure test kills the node's slurmd, which stalls every other Slurm job: it is a
// project of its own that runs after the others (sequence.groupOrder), alone.
const NODE_FAILURE = 'test/node-failure.integration.test.ts';
const shared = sharedProject('@phys/scheduler-slurm');
const { reporters, outputFile, ...testOptions } = shared.test ?? {};
const project = (
  test: NonNullable<TestProjectInlineConfiguration['test']>,
): TestProjectInlineConfiguration => ({ ...shared, test: { ...testOptions, ...test } });

export default defineConfig({
  test: {
    ...(reporters === undefined ? {} : { reporters, outputFile }),
    // The integration files mostly wait for Slurm jobs: run them side by side even on 2 cores.
    maxWorkers: 2,
    projects: [
      project({ exclude: [NODE_FAILURE] }),
      project({
        name: '@phys/scheduler-slurm (node failure)',
        include: [NODE_FAILURE],
        sequence: { groupOrder: 1 },
      }),
    ],
  },
});

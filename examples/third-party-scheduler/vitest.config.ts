import { defineProject, mergeConfig } from 'vitest/config';
import { sharedProject } from '../../vitest.shared.js';

export default mergeConfig(
  sharedProject('@phys/example-third-party-scheduler'),
  defineProject({
    test: {
      include: ['test/**/*.test.ts', 'phys-plugin-sandbox-scheduler/test/**/*.test.ts'],
    },
  }),
);

import { fileURLToPath } from 'node:url';
import { defineProject, mergeConfig } from 'vitest/config';
import { sharedProject } from '../vitest.shared.js';
import { extractProject } from './test/extract.js';

const docsDir = fileURLToPath(new URL('.', import.meta.url));
// The guides' code runs as it is written: extracted here, before test files are collected.
extractProject(docsDir, 'getting-started.md', 'getting-started');
extractProject(docsDir, 'writing-a-plugin.md', 'run-log');
extractProject(docsDir, '../README.md', 'readme');

export default mergeConfig(
  sharedProject('@phys/docs'),
  defineProject({ test: { include: ['.generated/**/*.test.ts'] } }),
);

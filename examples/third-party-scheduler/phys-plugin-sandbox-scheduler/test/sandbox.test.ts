import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionStatus, resources, type SchedulerTask } from '@phys/core';
import {
  ConformanceResources,
  ConformanceSleep,
  conformanceConfigFile,
  taskCommand,
} from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxScheduler } from '../src/index.js';

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'sandbox-test-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const task = (nodeId: string, stage: SchedulerTask['stage']): SchedulerTask => ({
  runId: 'sandbox',
  nodeId,
  attempt: 1,
  stage,
  resources: resources(),
  input: {},
  policy: {},
});

describe('SandboxScheduler', () => {
  it('keeps the environment out of the sandbox, except what passEnv lets through', async () => {
    process.env.CUDA_VISIBLE_DEVICES = '7';
    try {
      const closed = new SandboxScheduler({
        configFile: conformanceConfigFile(),
        taskCommand: taskCommand(),
        workDir,
      });
      const open = new SandboxScheduler({
        configFile: conformanceConfigFile(),
        taskCommand: taskCommand(),
        workDir,
        passEnv: ['PATH', 'CUDA_VISIBLE_DEVICES'],
      });
      const a = await closed.wait(await closed.submit(task('a', ConformanceResources({}).ref)));
      const b = await open.wait(await open.submit(task('b', ConformanceResources({}).ref)));
      expect(a.state).toMatchObject({ cudaVisibleDevices: null });
      expect(b.state).toMatchObject({ cudaVisibleDevices: '7' });
      // Completed sandboxes are removed.
      expect(await readdir(workDir)).toEqual([]);
    } finally {
      delete process.env.CUDA_VISIBLE_DEVICES;
    }
  });

  it('runs at most maxConcurrent tasks at once', async () => {
    const s = new SandboxScheduler({
      configFile: conformanceConfigFile(),
      taskCommand: taskCommand(),
      workDir,
      maxConcurrent: 1,
    });
    const first = await s.submit(task('first', ConformanceSleep({ seconds: 30 }).ref));
    const second = await s.submit(task('second', ConformanceSleep({ seconds: 30 }).ref));
    expect(await s.poll(first)).toBe(ExecutionStatus.RUNNING);
    expect(await s.poll(second)).toBe(ExecutionStatus.QUEUED);
    await s.close();
    expect((await s.wait(first)).status).toBe('CANCELLED');
    expect((await s.wait(second)).status).toBe('CANCELLED');
  });
});

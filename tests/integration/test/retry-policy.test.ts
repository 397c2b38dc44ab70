// One retry policy for every scheduler: the DAG executor asks core's shouldRetry, which honours
// what the failure says of itself. Run on the mock cluster, whose faults mimic a real one.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type ExecuteResult, ExecutorToken, type NodeSpec, type RetryPolicy } from '@phys/core';
import executorDag from '@phys/executor-dag';
import { createRuntime } from '@phys/runtime';
import schedulerMock from '@phys/scheduler-mock';
import { ConformanceSleep, conformanceConfigFile, conformanceStages } from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-retry-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runOnMock(fault: 'oom' | 'node-fail', retry: RetryPolicy): Promise<ExecuteResult> {
  const configFile = conformanceConfigFile();
  const runtime = await createRuntime(
    {
      config: {
        plugins: [
          executorDag(),
          schedulerMock({
            workDir: join(dir, fault),
            hosts: 1,
            cpusPerHost: 2,
            queueLatencySeconds: 0.01,
            faults: [{ kind: fault, nodeId: 'fit', attempts: [1], afterSeconds: 0.05 }],
          }),
        ],
        stages: conformanceStages,
      },
      configDir: dirname(configFile),
      filepath: configFile,
    },
    { init: true },
  );
  try {
    const nodes: NodeSpec[] = [{ id: 'fit', stage: ConformanceSleep({ seconds: 0.3 }), retry }];
    return await runtime.resolve(ExecutorToken).execute({
      pipeline: 'retry',
      nodes,
      initialState: null,
      container: runtime.container,
    });
  } finally {
    await runtime.dispose();
  }
}

describe('the default retry policy on a cluster', () => {
  it('does not retry a job killed for its memory: the same request would fail again', async () => {
    const result = await runOnMock('oom', { maxAttempts: 3 });
    expect(result.status).toBe('FAILED');
    expect(result.nodes.fit).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      error: { code: 'PHYS_JOB_OOM', retryable: false },
    });
  });

  it('retries a job whose node failed, and the retry completes', async () => {
    const result = await runOnMock('node-fail', { maxAttempts: 3 });
    expect(result.status).toBe('COMPLETED');
    expect(result.nodes.fit).toMatchObject({ status: 'COMPLETED', attempts: 2 });
  });

  it('retries an out-of-memory job when the policy lists the reason', async () => {
    const result = await runOnMock('oom', { maxAttempts: 3, retryableErrors: ['OOM'] });
    expect(result.status).toBe('COMPLETED');
    expect(result.nodes.fit).toMatchObject({ status: 'COMPLETED', attempts: 2 });
  });
});

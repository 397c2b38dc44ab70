// A run interrupted by a shutdown (left RUNNING in its store) is retried by the next process's
// recover() as a new attempt, and its finished nodes come back from the disk cache instead of
// being computed again.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cacheDisk from '@phys/cache-disk';
import { CancelledError, type DagPipelineDeclaration, defineStage, silentLogger } from '@phys/core';
import executorDag from '@phys/executor-dag';
import { createRuntime, LocalOrchestrator, MemoryRunStore, type PhysRuntime } from '@phys/runtime';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';

let dir = '';
const runtimes: PhysRuntime[] = [];
afterEach(async () => {
  for (const runtime of runtimes.splice(0)) await runtime.dispose();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** Appends its node id to the `log` param's file on every execution. */
const Count = defineStage({
  name: 'recovery/count',
  version: '1',
  config: z.object({}),
  process: (state: unknown, ctx) => {
    appendFileSync(String(ctx.policy.get('log')), `${ctx.nodeId}\n`);
    const before = typeof state === 'number' ? state : ((state as { value?: number }).value ?? 0);
    return { state: { value: before + 1 } };
  },
});

/** Waits until `gate.released` is set, or until aborted. */
const gate = { released: false, reached: 0 };
const Wait = defineStage({
  name: 'recovery/wait',
  version: '1',
  config: z.object({}),
  process: async (state: unknown, ctx) => {
    appendFileSync(String(ctx.policy.get('log')), `${ctx.nodeId}\n`);
    gate.reached += 1;
    while (!gate.released) {
      if (ctx.signal.aborted) throw new CancelledError('wait was aborted');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { state };
  },
});

const pipeline: DagPipelineDeclaration = {
  kind: 'dag',
  initialState: 0,
  nodes: [
    { id: 'a', stage: Count({}), isolation: 'inline' },
    { id: 'b', stage: Count({}), deps: ['a'], isolation: 'inline' },
    { id: 'wait', stage: Wait({}), deps: ['b'], isolation: 'inline' },
  ],
};

async function runtime(): Promise<PhysRuntime> {
  const made = await createRuntime(
    {
      config: {
        plugins: [executorDag(), cacheDisk({ dir: 'cache' })],
        stages: [Count, Wait],
        pipelines: { slow: pipeline },
      },
      configDir: dir,
    },
    { logger: silentLogger },
  );
  runtimes.push(made);
  return made;
}

it('retries a run left RUNNING by a shutdown, restoring finished nodes from the cache', async () => {
  dir = mkdtempSync(join(tmpdir(), 'phys-recovery-'));
  const log = join(dir, 'executions.log');
  const store = new MemoryRunStore();
  const first = new LocalOrchestrator(await runtime(), {
    store,
    retryPolicy: { maxAttempts: 2 },
  });
  const run = await first.runPipeline('slow', { runId: 'interrupted', params: { log } });
  while (gate.reached === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  await first.close();
  expect(await store.get('interrupted')).toMatchObject({ status: 'RUNNING', attempt: 1 });
  expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual(['a', 'b', 'wait']);

  // The next process: a new runtime over the same store and cache.
  gate.released = true;
  const second = new LocalOrchestrator(await runtime(), { store });
  expect(await second.recover()).toEqual({ resumed: ['interrupted'], failed: [], queued: [] });
  const done = await (await second.getRun(run.jobId)).waitForCompletion({ timeout: 60 });
  expect([done.status, done.record.attempt]).toEqual(['COMPLETED', 2]);
  expect(done.record.nodes?.a?.status).toBe('CACHED');
  expect(done.record.nodes?.b?.status).toBe('CACHED');
  expect(done.outputs).toEqual({ wait: { value: 2 } });
  // a and b ran once; only the interrupted node ran again.
  expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual(['a', 'b', 'wait', 'wait']);
  await second.close();
});

// One worker-thread pool per process, shared by every run and executor in it.
import { availableParallelism } from 'node:os';
import type { NodeSpec } from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { threadPoolStats } from '../src/thread-runner.js';
import { Add, Sleep } from './fixtures/stages.js';
import { configFile } from './helpers.js';

const schedulers: LocalScheduler[] = [];
afterEach(async () => {
  await Promise.all(schedulers.splice(0).map((s) => s.close()));
});

function executor(maxWorkers: number): DagExecutor {
  const scheduler = new LocalScheduler({ maxWorkers, maxCpu: maxWorkers, configFile });
  schedulers.push(scheduler);
  return new DagExecutor({ scheduler, metrics: [] });
}

function threaded(n: number, prefix: string): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    stage: Add({ amount: i }),
    isolation: 'thread' as const,
  }));
}

describe('the shared thread pool', () => {
  it('runs 30 concurrent runs on the machine’s cores, not 30 pools', async () => {
    // Before, every LocalScheduler had a pool of its own: 30 runs × 2 threads.
    const limit = Math.max(availableParallelism(), 2);
    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, threadPoolStats().threads);
    }, 1);
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, r) =>
          executor(2).run({ payload: 0 }, threaded(20, `r${r}_`)),
        ),
      );
      results.forEach((result, r) => {
        expect(result.status).toBe('COMPLETED');
        expect(result.outputs[`r${r}_19`]).toEqual({ payload: 19 });
      });
    } finally {
      clearInterval(sample);
    }
    most = Math.max(most, threadPoolStats().threads);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(limit);
    expect(threadPoolStats().maxThreads).toBe(limit);
  });

  it('grows to the largest maxWorkers a scheduler asks for, and back when it closes', async () => {
    const wide = availableParallelism() + 2;
    const big = executor(wide);
    let most = 0;
    const sample = setInterval(() => {
      most = Math.max(most, threadPoolStats().threads);
    }, 1);
    // `wide` sleeping nodes at once: they need `wide` threads.
    const result = await big.run(
      { payload: 0 },
      Array.from({ length: wide }, (_, i) => ({
        id: `s${i}`,
        stage: Sleep({ ms: 200 }),
        isolation: 'thread' as const,
      })),
    );
    clearInterval(sample);
    expect(result.status).toBe('COMPLETED');
    expect(most).toBe(wide);
    expect(threadPoolStats().maxThreads).toBe(wide);
    await Promise.all(schedulers.splice(0).map((s) => s.close()));
    expect(threadPoolStats().maxThreads).toBe(availableParallelism());
    expect(threadPoolStats().threads).toBeLessThanOrEqual(availableParallelism());
  });

  it('closing one scheduler stops its attempts and leaves another run’s alone', async () => {
    const a = new LocalScheduler({ maxWorkers: 1, configFile });
    const b = new LocalScheduler({ maxWorkers: 1, configFile });
    schedulers.push(b);
    const runA = new DagExecutor({ scheduler: a, metrics: [] }).run({ payload: 0 }, [
      { id: 'long', stage: Sleep({ ms: 60_000, ignoreAbort: true }), isolation: 'thread' },
    ]);
    const runB = new DagExecutor({ scheduler: b, metrics: [] }).run({ payload: 0 }, [
      { id: 'wait', stage: Sleep({ ms: 300 }), isolation: 'thread' },
      { id: 'then', stage: Add({ amount: 1 }), deps: ['wait'], isolation: 'thread' },
    ]);
    await expect.poll(() => threadPoolStats().busy).toBeGreaterThanOrEqual(1);
    await a.close();
    const [resultA, resultB] = await Promise.all([runA, runB]);
    expect(resultA.status).not.toBe('COMPLETED');
    expect(resultB.status).toBe('COMPLETED');
    expect(resultB.outputs.then).toEqual({ payload: 1 });
  });
});

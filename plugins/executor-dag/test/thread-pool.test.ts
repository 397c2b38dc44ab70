// One worker-thread pool per process, shared by every run and executor in it.
import { availableParallelism } from 'node:os';
import type { NodeSpec } from '@phys/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { threadPoolStats } from '../src/thread-pool-stats.js';
import { Add, Sleep, Stamp } from './fixtures/stages.js';
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

/** The most intervals `[start, end]` of `spans` that overlap at one moment. */
function mostAtOnce(spans: readonly { start: number; end: number }[]): number {
  const edges = spans.flatMap((s) => [
    [s.start, 1],
    [s.end, -1],
  ]) as [number, number][];
  // An end before a start at the same instant: touching intervals do not overlap.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) {
    now += d;
    most = Math.max(most, now);
  }
  return most;
}

function stamps(n: number, prefix: string, extra: Partial<NodeSpec> = {}): NodeSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    stage: Stamp({ us: 30, tag: i }),
    isolation: 'thread' as const,
    ...extra,
  }));
}

describe('short thread attempts (pipelined on their threads)', () => {
  it.each([1, 2])('never runs more than maxWorkers = %i of them at once', async (maxWorkers) => {
    const ex = executor(maxWorkers);
    // The first run teaches the pool that the stage is short; the second is pipelined.
    await ex.run({}, stamps(100, 'warm'));
    const result = await ex.run({}, stamps(600, 's'));
    expect(result.status).toBe('COMPLETED');
    const spans = Object.values(result.outputs) as { start: number; end: number }[];
    expect(spans).toHaveLength(600);
    expect(mostAtOnce(spans)).toBeLessThanOrEqual(maxWorkers);
  });

  it('gives each attempt its own result when synchronous and asynchronous stages share a thread', async () => {
    const ex = executor(2);
    await ex.run({ payload: 0 }, threaded(100, 'warm'));
    // Chains of a synchronous stage, an asynchronous one and a synchronous one again, many at
    // once: a thread's queue holds attempts of each kind, some answered at once, some later.
    const nodes: NodeSpec[] = [];
    for (let c = 0; c < 300; c++) {
      nodes.push(
        { id: `a${c}`, stage: Add({ amount: c }), isolation: 'thread' },
        { id: `s${c}`, stage: Sleep({ ms: 0 }), isolation: 'thread', deps: [`a${c}`] },
        { id: `b${c}`, stage: Add({ amount: 1 }), isolation: 'thread', deps: [`s${c}`] },
      );
    }
    const result = await ex.run({ payload: 1000 }, nodes);
    expect(result.status).toBe('COMPLETED');
    for (let c = 0; c < 300; c++) {
      expect(result.outputs[`b${c}`]).toEqual({ payload: 1001 + c });
    }
  });

  it('counts inline attempts of the same requirements among the slots', async () => {
    const ex = executor(2);
    await ex.run({}, stamps(100, 'warm'));
    const nodes = [...stamps(300, 't'), ...stamps(300, 'i', { isolation: 'inline' })];
    // Interleaved: inline and thread attempts take turns for the same two slots.
    const mixed = nodes.map((_, k) => nodes[(k % 2) * 300 + (k >> 1)] as NodeSpec);
    const result = await ex.run({}, mixed);
    expect(result.status).toBe('COMPLETED');
    const spans = Object.values(result.outputs) as { start: number; end: number }[];
    expect(spans).toHaveLength(600);
    expect(mostAtOnce(spans)).toBeLessThanOrEqual(2);
  });

  it('a cancelled run ends the attempts queued on threads CANCELLED, and the pool goes on', async () => {
    const ex = executor(2);
    await ex.run({}, stamps(100, 'warm'));
    const controller = new AbortController();
    let done = 0;
    const result = await ex.run({}, stamps(2000, 'c'), {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.status === 'COMPLETED' && ++done === 50) controller.abort();
      },
    });
    expect(result.status).toBe('CANCELLED');
    const counts = result.counts;
    expect(counts.COMPLETED ?? 0).toBeGreaterThanOrEqual(50);
    expect(counts.COMPLETED ?? 0).toBeLessThan(2000);
    expect((counts.COMPLETED ?? 0) + (counts.CANCELLED ?? 0)).toBe(2000);
    const again = await ex.run({}, stamps(200, 'after'));
    expect(again.status).toBe('COMPLETED');
    expect(Object.keys(again.outputs)).toHaveLength(200);
  });

  it('attempts queued behind one that is terminated for its timeout run on another thread', async () => {
    const ex = executor(1);
    const quick = (i: number): NodeSpec => ({
      id: `q${i}`,
      stage: Sleep({ ms: 0, busy: true }),
      isolation: 'thread',
    });
    // Sleep{busy, ms 0} is short: later attempts of the stage may queue behind a running one.
    await ex.run(
      {},
      Array.from({ length: 50 }, (_, i) => quick(i)),
    );
    const result = await ex.run(
      { payload: 1 },
      [
        {
          id: 'stuck',
          stage: Sleep({ ms: 60_000, busy: true }),
          isolation: 'thread',
          timeoutSeconds: 0.3,
        },
        ...Array.from({ length: 8 }, (_, i) => quick(i)),
      ],
      { failureMode: 'continue' },
    );
    expect(result.nodes.stuck?.status).toBe('TIMEOUT');
    expect(result.nodes.stuck?.error?.message).toMatch(/terminated/);
    for (let i = 0; i < 8; i++) {
      expect(result.nodes[`q${i}`]?.status).toBe('COMPLETED');
      expect(result.outputs[`q${i}`]).toEqual({ payload: 1 });
    }
  });
});

import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskCache, SharedDiskCache } from '@phys/cache-disk';
import {
  type Cache,
  DagState,
  defineStage,
  ExecutionStatus,
  type JobHandle,
  KEY_INPUTS_FIELD,
  type NodeSpec,
  PhysError,
  planDag,
  type Scheduler,
  type TaskOutcome,
} from '@phys/core';
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

// Every invocation of a stage below, by node id: what a cache hit must avoid.
let calls: string[] = [];

function sumOf(state: unknown): number {
  if (DagState.is(state)) {
    let sum = 0;
    for (const value of state.inputs.values()) sum += (value as { x: number }).x;
    return sum;
  }
  return (state as { x: number }).x;
}

const Step = defineStage({
  name: 'cache-test/step',
  version: '1',
  config: z.object({ add: z.number() }),
  process: (state: unknown, ctx) => {
    calls.push(ctx.nodeId);
    const x = sumOf(state) + ctx.config.add;
    return { state: { x, data: new Float64Array([x, x / 2]) }, metrics: { x } };
  },
});

// The same name, version and config schema as Step, with other code.
const StepEdited = defineStage({
  name: 'cache-test/step',
  version: '1',
  config: z.object({ add: z.number() }),
  process: (state: unknown, ctx) => {
    calls.push(ctx.nodeId);
    const x = sumOf(state) + ctx.config.add * 10;
    return { state: { x, data: new Float64Array([x, x / 2]) }, metrics: { x } };
  },
});

const Boom = defineStage({
  name: 'cache-test/boom',
  version: '1',
  config: z.object({}),
  process: (_state: unknown, ctx) => {
    calls.push(ctx.nodeId);
    throw new Error('the solver diverged');
  },
});

// Waits for the run's abort signal or a release, so that two runs overlap in time.
let releases: (() => void)[] = [];
const Slow = defineStage({
  name: 'cache-test/slow',
  version: '1',
  config: z.object({}),
  process: (state: unknown, ctx) => {
    calls.push(ctx.nodeId);
    return new Promise<{ state: unknown }>((resolve) => {
      releases.push(() => resolve({ state: { x: sumOf(state) + 100 } }));
    });
  },
});

/**
 *   src ─┬─ left ──┐
 *        └─ right ─┴─ join ── report
 */
function pipeline(leftAdd = 2, step = Step): NodeSpec[] {
  return [
    { id: 'src', stage: Step({ add: 1 }) },
    { id: 'left', stage: step({ add: leftAdd }), deps: ['src'] },
    { id: 'right', stage: Step({ add: 3 }), deps: ['src'] },
    { id: 'join', stage: Step({ add: 0 }), deps: ['left', 'right'] },
    { id: 'report', stage: Step({ add: 0 }), deps: ['join'] },
  ];
}

/** `layers` × `width`, each node on two of the layer above: every layer does one piece of work. */
function grid(layers: number, width: number): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  for (let k = 0; k < layers; k++) {
    for (let i = 0; i < width; i++) {
      nodes.push({
        id: `l${k}_${i}`,
        stage: Step({ add: 1 }),
        deps: k === 0 ? [] : [`l${k - 1}_${i}`, `l${k - 1}_${(i + 1) % width}`],
      });
    }
  }
  return nodes;
}

let dir: string;
const executors: DagExecutor[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-dag-cache-'));
  calls = [];
  releases = [];
});
afterEach(async () => {
  for (const ex of executors.splice(0)) await ex.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function executor(cache: Cache, options: { failureMode?: 'continue'; strict?: boolean } = {}) {
  const ex = new DagExecutor({
    scheduler: new LocalScheduler({ maxWorkers: 2 }),
    cache,
    metrics: [],
    ...options,
  });
  executors.push(ex);
  return ex;
}

const initial = { x: 0 };

describe('DagExecutor with a DiskCache', () => {
  it('restores every node on a new executor and a reopened cache, with equal outputs', async () => {
    const cold = await executor(new DiskCache({ dir })).run(initial, pipeline());
    expect(cold.counts).toEqual({ COMPLETED: 5 });
    expect(calls.sort()).toEqual(['join', 'left', 'report', 'right', 'src']);
    expect(cold.cache).toMatchObject({ lookups: 5, hits: 0, misses: 5, stored: 5, errors: 0 });

    calls = [];
    const reopened = new DiskCache({ dir });
    expect((await reopened.stats()).entries).toBe(5);
    const warm = await executor(reopened).run(initial, pipeline());
    expect(calls).toEqual([]);
    expect(warm.counts).toEqual({ CACHED: 5 });
    expect(warm.cache).toMatchObject({ lookups: 5, hits: 5, misses: 0, stored: 0 });
    expect(warm.outputs).toEqual(cold.outputs);
    expect((warm.outputs.report as { data: Float64Array }).data).toBeInstanceOf(Float64Array);
    expect(warm.metrics).toEqual(cold.metrics);
    for (const node of Object.values(warm.nodes)) {
      expect(node).toMatchObject({ status: 'CACHED', attempts: 0, cacheHit: true });
    }
    // Provenance of a restored node: the original run's, wall time included, marked cached.
    const coldJoin = cold.provenance.stages.find((s) => s.stage === 'join');
    const warmJoin = warm.provenance.stages.find((s) => s.stage === 'join');
    expect(coldJoin?.cached).toBeUndefined();
    expect(warmJoin).toMatchObject({ stage: 'join', cached: true, attempts: 0, cacheHit: true });
    expect(warmJoin?.wallTimeSeconds).toBeGreaterThan(0);
    expect(warmJoin?.[KEY_INPUTS_FIELD]).toMatchObject({ stageName: 'cache-test/step' });
  });

  it('runs again exactly the node whose config changed and its descendants', async () => {
    await executor(new DiskCache({ dir })).run(initial, pipeline(2));
    calls = [];
    const changed = await executor(new DiskCache({ dir })).run(initial, pipeline(5));
    expect(calls.sort()).toEqual(['join', 'left', 'report']);
    expect(changed.counts).toEqual({ CACHED: 2, COMPLETED: 3 });
    expect(changed.nodes.src?.status).toBe('CACHED');
    expect(changed.nodes.right?.status).toBe('CACHED');
    expect((changed.outputs.report as { x: number }).x).toBe(1 + 5 + (1 + 3));
  });

  it('runs again a node whose code changed, and what depends on it', async () => {
    await executor(new DiskCache({ dir })).run(initial, pipeline(2));
    calls = [];
    const edited = await executor(new DiskCache({ dir })).run(initial, pipeline(2, StepEdited));
    expect(calls.sort()).toEqual(['join', 'left', 'report']);
    expect((edited.outputs.report as { x: number }).x).toBe(1 + 20 + (1 + 3));
  });

  it('lets phys plan predict exactly what the executor then does', async () => {
    const cache = new DiskCache({ dir });
    await executor(cache).run(initial, pipeline(2));
    const plan = await planDag(pipeline(7), cache, { initialState: initial });
    const toRun = plan.nodes.filter((n) => !n.cached).map((n) => n.id);
    calls = [];
    await executor(cache).run(initial, pipeline(7));
    expect(calls.sort()).toEqual(toRun.sort());
    expect(plan.nodes.find((n) => n.id === 'left')?.reasons).toEqual([{ kind: 'config' }]);
  });

  it('computes identical work once per run and shares the result: a grid is one node per layer', async () => {
    const cold = await executor(new DiskCache({ dir })).run(initial, grid(6, 8));
    expect(calls).toHaveLength(6);
    expect(cold.counts).toEqual({ COMPLETED: 6, CACHED: 42 });
    expect(cold.cache).toMatchObject({ lookups: 6, misses: 6, shared: 42, stored: 6 });
    // l5 sums two copies of l4, and so on: x doubles and adds 1 at every layer.
    expect((cold.outputs.l5_3 as { x: number }).x).toBe(63);
    const shared = cold.provenance.stages.find((s) => s.stage === 'l2_5');
    expect(shared).toMatchObject({ cached: true, node: expect.stringMatching(/^l2_/) });

    calls = [];
    const warm = await executor(new DiskCache({ dir })).run(initial, grid(6, 8));
    expect(calls).toEqual([]);
    expect(warm.counts).toEqual({ CACHED: 48 });
    expect(warm.cache).toMatchObject({ lookups: 6, hits: 6, shared: 42 });
    expect(warm.outputs).toEqual(cold.outputs);
  });

  it('treats a corrupted entry as a miss: the node runs again when something needs it', async () => {
    const cache = new DiskCache({ dir });
    const cold = await executor(cache).run(initial, pipeline());
    const plan = await planDag(pipeline(), cache, { initialState: initial });
    for (const id of ['right', 'report']) {
      const key = plan.nodes.find((n) => n.id === id)?.key as string;
      const path = cache.pathOf(key);
      const bytes = fs.readFileSync(path);
      bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff;
      fs.writeFileSync(path, bytes);
    }

    calls = [];
    const again = await executor(new DiskCache({ dir })).run(initial, pipeline());
    // report is the output: it runs again, on join's restored result. Nothing that runs needs
    // right (join is restored), so right does not run.
    expect(calls).toEqual(['report']);
    expect(again.outputs).toEqual(cold.outputs);
    expect(again.nodes.right).toMatchObject({ status: 'SKIPPED', skipReason: 'not-needed' });
    expect(again.status).toBe('COMPLETED');
    expect(again.cache).toMatchObject({ hits: 3, misses: 2, stored: 1, errors: 0 });
  });

  it('never runs upstream nodes whose every dependent is cached, and says why', async () => {
    const cache = new DiskCache({ dir });
    const cold = await executor(cache).run(initial, pipeline());
    // The entries of src, left and right are gone (evicted, deleted); join and report are not.
    const plan = await planDag(pipeline(), cache, { initialState: initial });
    for (const id of ['src', 'left', 'right']) {
      expect(await cache.delete(plan.nodes.find((n) => n.id === id)?.key as string)).toBe(true);
    }
    const predicted = await planDag(pipeline(), cache, { initialState: initial });
    expect(predicted).toMatchObject({ cached: 2, toRun: 0, notNeeded: 3 });

    calls = [];
    const again = await executor(new DiskCache({ dir })).run(initial, pipeline());
    expect(calls).toEqual([]);
    expect(again.status).toBe('COMPLETED');
    expect(again.counts).toEqual({ CACHED: 2, SKIPPED: 3 });
    for (const id of ['src', 'left', 'right']) {
      expect(again.nodes[id]).toMatchObject({
        status: 'SKIPPED',
        skipReason: 'not-needed',
        attempts: 0,
      });
    }
    expect(again.outputs).toEqual(cold.outputs);
    // Nothing was written: the skipped nodes were not computed.
    expect(again.cache).toMatchObject({ hits: 2, misses: 3, stored: 0 });
    expect((await new DiskCache({ dir }).stats()).entries).toBe(2);
  });

  it('never fails a run because the cache cannot be read or written', async () => {
    // Writes fail: the cache directory sits below a regular file.
    fs.writeFileSync(join(dir, 'file'), 'not a directory');
    const unwritable = await executor(new DiskCache({ dir: join(dir, 'file', 'cache') })).run(
      initial,
      pipeline(),
    );
    expect(unwritable.status).toBe('COMPLETED');
    expect(unwritable.counts).toEqual({ COMPLETED: 5 });
    expect(unwritable.cache).toMatchObject({ stored: 0, errors: 5 });

    // Reads fail: every entry path is a directory.
    const cache = new DiskCache({ dir: join(dir, 'cache') });
    const plan = await planDag(pipeline(), cache, { initialState: initial });
    for (const node of plan.nodes) fs.mkdirSync(cache.pathOf(node.key), { recursive: true });
    calls = [];
    const unreadable = await executor(cache).run(initial, pipeline());
    expect(unreadable.status).toBe('COMPLETED');
    expect(calls).toHaveLength(5);
    expect(unreadable.outputs).toEqual(unwritable.outputs);
    expect(unreadable.cache?.errors).toBeGreaterThanOrEqual(5);
  });

  it('runs without the cache when the initial state cannot be hashed', async () => {
    const result = await executor(new DiskCache({ dir })).run(
      { x: 0, callback: () => 1 },
      pipeline(),
    );
    expect(result.status).toBe('COMPLETED');
    expect(result.cache).toMatchObject({ lookups: 0, errors: 1 });
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('failure semantics with a cache', () => {
  it('failFast: a failure ends the run; what completed is cached, what failed is not', async () => {
    const nodes: NodeSpec[] = [
      { id: 'src', stage: Step({ add: 1 }) },
      { id: 'bad', stage: Boom({}), deps: ['src'] },
      { id: 'after', stage: Step({ add: 1 }), deps: ['bad'] },
    ];
    const failed = await executor(new DiskCache({ dir })).run(initial, nodes);
    expect(failed.status).toBe('FAILED');
    expect(failed.nodes.bad?.status).toBe('FAILED');
    expect(failed.nodes.after?.status).toBe('CANCELLED');
    calls = [];
    const again = await executor(new DiskCache({ dir })).run(initial, nodes);
    expect(again.nodes.src?.status).toBe('CACHED');
    expect(calls).toEqual(['bad']);
  });

  it('failFast: a job that completes after the run stopped is kept, and nothing starts after it', async () => {
    // A cluster whose jobs finish whatever cancel says (the cancel arrives too late): 'bad'
    // fails as soon as 'slow' was submitted, 'slow' completes a moment later, after failFast
    // has stopped the run.
    let slowSubmitted!: () => void;
    const submitted = new Promise<void>((resolve) => {
      slowSubmitted = resolve;
    });
    const scheduler: Scheduler = {
      name: 'late-cancel',
      capabilities: { arrays: false, dependencies: false, gpus: false, cancel: true },
      submit: async (task): Promise<JobHandle> => {
        if (task.nodeId === 'slow') slowSubmitted();
        return { jobId: task.nodeId, nodeId: task.nodeId, attempt: task.attempt };
      },
      poll: async () => ExecutionStatus.RUNNING,
      wait: async (handle) => {
        if (handle.nodeId === 'bad') {
          await submitted;
          return {
            status: ExecutionStatus.FAILED,
            error: new PhysError('PHYS_TASK_FAILED', 'the solver diverged').toJSON(),
          } as TaskOutcome;
        }
        await new Promise((r) => setTimeout(r, 30));
        return { status: ExecutionStatus.COMPLETED, state: { x: 1 }, metrics: {} } as TaskOutcome;
      },
      cancel: async () => {},
    };
    const nodes: NodeSpec[] = [
      { id: 'slow', stage: Step({ add: 1 }) },
      { id: 'bad', stage: Boom({}) },
      { id: 'after', stage: Step({ add: 1 }), deps: ['slow'] },
    ];
    const cache = new DiskCache({ dir });
    const ex = new DagExecutor({ scheduler, cache, metrics: [] });
    const result = await ex.run(initial, nodes);
    expect(result.status).toBe('FAILED');
    expect(result.nodes.slow?.status).toBe('COMPLETED');
    expect(result.nodes.after?.status).toBe('CANCELLED');
    expect(result.cache?.stored).toBe(1);
  });

  it('continue: nodes waiting on identical work that failed get their own attempts', async () => {
    const nodes: NodeSpec[] = [
      { id: 'a', stage: Boom({}) },
      { id: 'b', stage: Boom({}) },
      { id: 'ok', stage: Step({ add: 1 }) },
      { id: 'child', stage: Step({ add: 1 }), deps: ['a'] },
    ];
    const result = await executor(new DiskCache({ dir }), { failureMode: 'continue' }).run(
      initial,
      nodes,
    );
    expect(result.nodes.a?.status).toBe('FAILED');
    expect(result.nodes.b?.status).toBe('FAILED');
    expect(result.nodes.child?.status).toBe('SKIPPED');
    expect(result.nodes.ok?.status).toBe('COMPLETED');
    expect(calls.sort()).toEqual(['a', 'b', 'ok']);
  });

  it('strict mode still fails a stage that mutates its input', async () => {
    const Mutate = defineStage({
      name: 'cache-test/mutate',
      version: '1',
      config: z.object({}),
      process: (state: { x: number }) => {
        state.x = 99;
        return { state };
      },
    });
    const result = await executor(new DiskCache({ dir }), { strict: true }).run({ x: 0 }, [
      { id: 'm', stage: Mutate({}) },
    ]);
    expect(result.nodes.m?.status).toBe('FAILED');
    expect(result.nodes.m?.error?.code).toBe('PHYS_STAGE_CONTRACT');
    expect(result.cache?.stored).toBe(0);
  });
});

describe('DagExecutor with a SharedDiskCache', () => {
  it('computes a key once between two runs that need it at the same time', async () => {
    const nodes: NodeSpec[] = [
      { id: 'slow', stage: Slow({}) },
      { id: 'after', stage: Step({ add: 1 }), deps: ['slow'] },
    ];
    // Two instances on one directory coordinate through lock files, as two processes would.
    const options = { dir, pollMinMs: 5, pollMaxMs: 20 };
    const first = executor(new SharedDiskCache(options)).run(initial, nodes);
    const second = executor(new SharedDiskCache(options)).run(initial, nodes);
    while (releases.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Give the second run time to find the lock, then let the computation finish.
    await new Promise((r) => setTimeout(r, 50));
    for (const release of releases) release();
    const [a, b] = await Promise.all([first, second]);
    expect(calls.filter((id) => id === 'slow')).toEqual(['slow']);
    expect(a.outputs).toEqual(b.outputs);
    expect([a.nodes.slow?.status, b.nodes.slow?.status].sort()).toEqual(['CACHED', 'COMPLETED']);
  });

  it('cancelling a run while its cache waits for another process ends it promptly', async () => {
    const nodes: NodeSpec[] = [{ id: 'slow', stage: Slow({}) }];
    const options = { dir, pollMinMs: 5, pollMaxMs: 20 };
    const first = executor(new SharedDiskCache(options)).run(initial, nodes);
    while (releases.length === 0) await new Promise((r) => setTimeout(r, 5));
    const abort = new AbortController();
    const second = executor(new SharedDiskCache(options)).run(initial, nodes, {
      signal: abort.signal,
    });
    await new Promise((r) => setTimeout(r, 30));
    abort.abort();
    const cancelled = await second;
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.nodes.slow?.status).toBe('CANCELLED');
    for (const release of releases) release();
    expect((await first).nodes.slow?.status).toBe('COMPLETED');
    expect(calls).toEqual(['slow']);
  });
});

import { DagState, defineStage, type NodeSpec } from '@phys/core';
import { MemoryCache } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dagCacheKeys } from '../src/cache-keys.js';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Fail, Merge } from './fixtures/stages.js';

const diamond = (amountB = 2): NodeSpec[] => [
  { id: 'a', stage: Add({ amount: 1 }) },
  { id: 'b', stage: Add({ amount: amountB }), deps: ['a'] },
  { id: 'c', stage: Add({ amount: 3 }), deps: ['a'] },
  { id: 'd', stage: Merge({}), deps: ['b', 'c'] },
];

describe('DagExecutor with a cache', () => {
  it('restores every node from the cache on a second executor, metrics included', async () => {
    const cache = new MemoryCache();
    const cold = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      cache,
      metrics: [],
    }).run({ payload: 1 }, diamond());
    expect(cold.counts).toEqual({ COMPLETED: 4 });
    expect((await cache.stats()).entries).toBe(4);
    const warm = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      cache,
      metrics: [],
    }).run({ payload: 1 }, diamond());
    expect(warm.counts).toEqual({ CACHED: 4 });
    expect(warm.outputs).toEqual(cold.outputs);
    expect(warm.metrics).toEqual(cold.metrics);
    expect(warm.nodes.d).toMatchObject({ status: 'CACHED', attempts: 0, cacheHit: true });
    expect(warm.provenance.nodeRuns.every((r) => r.cacheHit)).toBe(true);
  });

  it('re-runs exactly the nodes downstream of a changed config', async () => {
    const cache = new MemoryCache();
    const ex = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      cache,
      metrics: [],
    });
    await ex.run({ payload: 1 }, diamond(2));
    const changed = await ex.run({ payload: 1 }, diamond(5));
    expect(changed.nodes.a?.status).toBe('CACHED');
    expect(changed.nodes.c?.status).toBe('CACHED');
    expect(changed.nodes.b?.status).toBe('COMPLETED');
    expect(changed.nodes.d?.status).toBe('COMPLETED');
    expect(changed.outputs.d).toEqual({ payload: 2 + 5 + 2 + 3 });
  });

  it('derives keys before running: chained on upstream keys, independent of node ids', () => {
    const keys = dagCacheKeys(diamond(), { initialState: { payload: 1 } });
    const renamed = dagCacheKeys(
      diamond().map((n) => ({
        ...n,
        id: `x-${n.id}`,
        deps: (n.deps ?? []).map((d) => `x-${d}`),
      })),
      { initialState: { payload: 1 } },
    );
    expect(renamed.get('x-d')).toBe(keys.get('d'));
    expect(keys.get('b')).not.toBe(keys.get('c'));
    const otherInput = dagCacheKeys(diamond(), { initialState: { payload: 2 } });
    expect(otherInput.get('d')).not.toBe(keys.get('d'));
    const otherPolicy = dagCacheKeys(diamond(), { initialState: { payload: 1 }, policy: { N: 1 } });
    expect(otherPolicy.get('a')).not.toBe(keys.get('a'));
    const swapped = dagCacheKeys(
      diamond().map((n) => (n.id === 'd' ? { ...n, deps: ['c', 'b'] } : n)),
      { initialState: { payload: 1 } },
    );
    expect(swapped.get('d')).not.toBe(keys.get('d'));
  });
});

// Every call of Count's process(), by node id: what a node that is not needed must never add to.
const calls: string[] = [];
const Count = defineStage({
  name: 'test/count',
  version: '1',
  config: z.object({ add: z.number() }),
  process: (state: unknown, ctx) => {
    calls.push(ctx.nodeId);
    let payload = 0;
    if (DagState.is(state)) {
      for (const v of state.inputs.values()) payload += (v as { payload: number }).payload;
    } else {
      payload = (state as { payload: number }).payload;
    }
    return { state: { payload: payload + ctx.config.add }, metrics: { payload } };
  },
});

/**
 *   src ── mid ── out
 *     └── side
 */
const chainAndFan = (): NodeSpec[] => [
  { id: 'src', stage: Count({ add: 1 }) },
  { id: 'mid', stage: Count({ add: 10 }), deps: ['src'] },
  { id: 'out', stage: Count({ add: 100 }), deps: ['mid'] },
  { id: 'side', stage: Count({ add: 1000 }), deps: ['src'] },
];

async function coldThenForget(nodes: NodeSpec[], forget: readonly string[]) {
  const cache = new MemoryCache();
  const executor = () =>
    new DagExecutor({ scheduler: new LocalScheduler({ maxWorkers: 2 }), cache, metrics: [] });
  const cold = await executor().run({ payload: 0 }, nodes);
  expect(cold.status).toBe('COMPLETED');
  const keys = dagCacheKeys(nodes, { initialState: { payload: 0 } });
  for (const id of forget) await cache.delete(keys.get(id) as string);
  calls.length = 0;
  const warm = await executor().run({ payload: 0 }, nodes);
  return { cold, warm };
}

describe('DagExecutor skips what nothing needs', () => {
  it('never runs upstream nodes whose every dependent is restored, and says why', async () => {
    // The entries of src and mid are gone (evicted, damaged); out and side are cached.
    const { cold, warm } = await coldThenForget(chainAndFan(), ['src', 'mid']);
    expect(calls).toEqual([]);
    expect(warm.status).toBe('COMPLETED');
    expect(warm.ok).toBe(true);
    expect(warm.counts).toEqual({ CACHED: 2, SKIPPED: 2 });
    expect(warm.outputs).toEqual(cold.outputs);
    for (const id of ['src', 'mid']) {
      expect(warm.nodes[id]).toMatchObject({
        status: 'SKIPPED',
        skipReason: 'not-needed',
        attempts: 0,
        cacheHit: false,
      });
    }
    expect(warm.nodes.out).toMatchObject({ status: 'CACHED', cacheHit: true });
    expect(warm.nodes.out?.skipReason).toBeUndefined();
    // The restored nodes keep their metrics; the ones not needed have none to report.
    expect(warm.metrics).toEqual({ 'out.payload': 11, 'side.payload': 1 });
    expect(warm.cache).toMatchObject({ hits: 2, misses: 2, stored: 0 });
  });

  it('runs what a missing output needs, restores what it can, and skips the rest', async () => {
    const { cold, warm } = await coldThenForget(chainAndFan(), ['out', 'src']);
    // out runs on mid's restored result; src is needed by nothing that runs.
    expect(calls).toEqual(['out']);
    expect(warm.nodes.out?.status).toBe('COMPLETED');
    expect(warm.nodes.mid?.status).toBe('CACHED');
    expect(warm.nodes.side?.status).toBe('CACHED');
    expect(warm.nodes.src).toMatchObject({ status: 'SKIPPED', skipReason: 'not-needed' });
    expect(warm.outputs).toEqual(cold.outputs);
  });

  it('runs the whole chain up to a missing root when the output is missing too', async () => {
    const { cold, warm } = await coldThenForget(chainAndFan(), ['out', 'mid', 'src']);
    expect([...calls].sort()).toEqual(['mid', 'out', 'src']);
    expect(warm.nodes.side?.status).toBe('CACHED');
    expect(warm.outputs).toEqual(cold.outputs);
  });

  it('computes a key that one node needs once, and restores another node of it that does not', async () => {
    // p1 and p2 do identical work (one key); c1 is cached and does not need p1, c2 is missing
    // and needs p2. Whichever of p1 and p2 is looked up first, the key is computed once.
    const nodes: NodeSpec[] = [
      { id: 'p1', stage: Count({ add: 1 }) },
      { id: 'p2', stage: Count({ add: 1 }) },
      { id: 'c1', stage: Count({ add: 5 }), deps: ['p1'] },
      { id: 'c2', stage: Count({ add: 7 }), deps: ['p2'] },
    ];
    const { cold, warm } = await coldThenForget(nodes, ['p1', 'c2']);
    expect(calls.filter((id) => id.startsWith('p'))).toHaveLength(1);
    expect(calls).toContain('c2');
    expect(warm.status).toBe('COMPLETED');
    expect(warm.counts.SKIPPED).toBeUndefined();
    expect(warm.nodes.c1?.status).toBe('CACHED');
    expect(warm.outputs).toEqual(cold.outputs);
  });

  it('skips what needs a failed node (continue), and tells those skips from the ones not needed', async () => {
    //   bad ─┬─ x
    //        └─ d ── y        (nothing cached; bad fails)
    const nodes: NodeSpec[] = [
      { id: 'bad', stage: Fail({}) },
      { id: 'x', stage: Count({ add: 1 }), deps: ['bad'] },
      { id: 'd', stage: Count({ add: 2 }), deps: ['bad'] },
      { id: 'y', stage: Count({ add: 3 }), deps: ['d'] },
    ];
    calls.length = 0;
    const result = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      cache: new MemoryCache(),
      failureMode: 'continue',
      metrics: [],
    }).run({ payload: 0 }, nodes);
    expect(calls).toEqual([]);
    expect(result.status).toBe('FAILED');
    expect(result.counts).toEqual({ FAILED: 1, SKIPPED: 3 });
    for (const id of ['x', 'd', 'y']) {
      expect(result.nodes[id]).toMatchObject({ status: 'SKIPPED', skipReason: 'upstream-failed' });
    }
  });

  it('runs every node without a cache, and a node marked modelArtifact is always an output', async () => {
    const nodes = chainAndFan();
    calls.length = 0;
    const plain = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 2 }),
      metrics: [],
    }).run({ payload: 0 }, nodes);
    expect([...calls].sort()).toEqual(['mid', 'out', 'side', 'src']);
    expect(plain.counts).toEqual({ COMPLETED: 4 });
    const marked = nodes.map((n) => (n.id === 'mid' ? { ...n, modelArtifact: true } : n));
    const { warm } = await coldThenForget(marked, ['src', 'mid']);
    // mid is an output of the run: it runs again, and so does src, which it needs.
    expect([...calls].sort()).toEqual(['mid', 'src']);
    expect(warm.counts).toEqual({ CACHED: 2, COMPLETED: 2 });
  });
});

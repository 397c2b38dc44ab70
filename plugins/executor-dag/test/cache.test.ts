import type { NodeSpec } from '@phys/core';
import { MemoryCache } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { dagCacheKeys } from '../src/cache-keys.js';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Merge } from './fixtures/stages.js';

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

import type { CacheEntry, NodeSpec } from '@phys/core';
import {
  type DagPlan,
  defineStage,
  KEY_INPUTS_FIELD,
  type LineageRecord,
  planDag,
} from '@phys/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryCache } from './memory-cache.js';

/** A MemoryCache that remembers, per node id, the newest entry it stored (as DiskCache does). */
class LineageMemoryCache extends MemoryCache {
  readonly #lineage = new Map<string, LineageRecord>();

  override async put(key: string, entry: CacheEntry): Promise<void> {
    await super.put(key, entry);
    const p = entry.provenance as Record<string, unknown>;
    if (typeof p.node === 'string') {
      this.#lineage.set(p.node, {
        key,
        createdAt: new Date(),
        keyInputs: p[KEY_INPUTS_FIELD] as LineageRecord['keyInputs'] & object,
      });
    }
  }

  async lineage(): Promise<ReadonlyMap<string, LineageRecord>> {
    return this.#lineage;
  }
}

const Scale = defineStage({
  name: 'plan/scale',
  version: '1',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
});

const ScaleEdited = defineStage({
  name: 'plan/scale',
  version: '1',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor + 1 } }),
});

// load -> (left, right) -> join
function pipeline(leftFactor = 2, right = Scale): NodeSpec[] {
  return [
    { id: 'load', stage: Scale({ factor: 1 }) },
    { id: 'left', stage: Scale({ factor: leftFactor }), deps: ['load'] },
    { id: 'right', stage: right({ factor: 3 }), deps: ['load'] },
    { id: 'join', stage: Scale({ factor: 1 }), deps: ['left', 'right'] },
  ];
}

/** Stores the planned nodes an executor would run, the first of each key only. */
async function runAll(plan: DagPlan, cache: MemoryCache): Promise<void> {
  for (const node of plan.nodes) {
    if (node.cached || (await cache.has(node.key))) continue;
    await cache.put(node.key, {
      state: { x: 1 },
      metrics: {},
      provenance: { node: node.id, [KEY_INPUTS_FIELD]: node.inputs },
    });
  }
}

const why = (plan: DagPlan): Record<string, string> =>
  Object.fromEntries(
    plan.nodes.map((n) => [
      n.id,
      n.cached
        ? 'cached'
        : n.reasons
            .map((r) => (r.kind === 'upstream' ? `upstream ${r.deps.join('+')}` : r.kind))
            .join(', '),
    ]),
  );

describe('planDag', () => {
  const initialState = { x: 1 };

  it('says which nodes are cached and why the others will run, without running anything', async () => {
    const cache = new LineageMemoryCache();
    const cold = await planDag(pipeline(), cache, { initialState });
    expect(cold).toMatchObject({ cached: 0, toRun: 4 });
    expect(Object.values(why(cold))).toEqual(['new', 'new', 'new', 'new']);
    expect((await cache.stats()).entries).toBe(0);
    await runAll(cold, cache);

    expect(await planDag(pipeline(), cache, { initialState })).toMatchObject({
      cached: 4,
      toRun: 0,
    });
    expect(why(await planDag(pipeline(5), cache, { initialState }))).toEqual({
      load: 'cached',
      left: 'config',
      right: 'cached',
      join: 'upstream left',
    });
    expect(why(await planDag(pipeline(2, ScaleEdited), cache, { initialState }))).toEqual({
      load: 'cached',
      left: 'cached',
      right: 'code',
      join: 'upstream right',
    });
    const unfingerprinted = await planDag(pipeline(2, ScaleEdited), cache, {
      initialState,
      fingerprintCode: false,
    });
    // Keys without fingerprints are other keys altogether: nothing of the first run matches.
    expect(unfingerprinted.cached).toBe(0);
    expect(why(await planDag(pipeline(), cache, { initialState, policy: { seed: 1 } })).load).toBe(
      'policy',
    );
  });

  it('explains nodes that share a key with whichever of them left a record, naming their own deps', async () => {
    const cache = new LineageMemoryCache();
    // Two identical branches: b1 and b2 do the same work, so only b1's result is stored.
    const twins = (factor: number): NodeSpec[] => [
      { id: 'a1', stage: Scale({ factor: 1 }) },
      { id: 'a2', stage: Scale({ factor: 1 }) },
      { id: 'b1', stage: Scale({ factor }), deps: ['a1'] },
      { id: 'b2', stage: Scale({ factor }), deps: ['a2'] },
      { id: 'c2', stage: Scale({ factor: 1 }), deps: ['b2'] },
    ];
    await runAll(await planDag(twins(2), cache, { initialState }), cache);
    expect((await cache.stats()).entries).toBe(3);
    expect(why(await planDag(twins(3), cache, { initialState }))).toEqual({
      a1: 'cached',
      a2: 'cached',
      b1: 'config',
      b2: 'config',
      c2: 'upstream b2',
    });
  });

  it('works with any Cache: a miss is new when the cache keeps no lineage', async () => {
    const cache = new MemoryCache();
    await runAll(await planDag(pipeline(), cache, { initialState }), cache);
    const edited = await planDag(pipeline(5), cache, { initialState });
    expect(edited.cached).toBe(2);
    expect(why(edited)).toMatchObject({ left: 'new', join: 'new' });
  });

  it('reports an entry that its lineage names but the cache lost as missing', async () => {
    const memory = new MemoryCache();
    const cold = await planDag(pipeline(), memory, { initialState });
    const cache = Object.assign(memory, {
      lineage: async () =>
        new Map(cold.nodes.map((n) => [n.id, { key: n.key, createdAt: new Date() }])),
    });
    const plan = await planDag(pipeline(), cache, { initialState });
    expect(plan.nodes.map((n) => n.reasons)).toEqual(
      Array.from({ length: 4 }, () => [{ kind: 'missing' }]),
    );
  });
});

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

describe('planDag and what nothing needs', () => {
  const initialState = { x: 1 };
  const status = (plan: DagPlan): Record<string, string> =>
    Object.fromEntries(
      plan.nodes.map((n) => [n.id, n.cached ? 'cached' : n.needed ? 'will run' : 'not needed']),
    );

  it('plans a missing node as not needed when no node that runs and no output needs it', async () => {
    const cache = new MemoryCache();
    const cold = await planDag(pipeline(), cache, { initialState });
    expect(cold).toMatchObject({ cached: 0, toRun: 4, notNeeded: 0 });
    await runAll(cold, cache);
    const keyOf = (id: string) => cold.nodes.find((n) => n.id === id)?.key as string;

    // load and left are gone; join (the output) and right are cached.
    await cache.delete(keyOf('load'));
    await cache.delete(keyOf('left'));
    const plan = await planDag(pipeline(), cache, { initialState });
    expect(status(plan)).toEqual({
      load: 'not needed',
      left: 'not needed',
      right: 'cached',
      join: 'cached',
    });
    expect(plan).toMatchObject({ cached: 2, toRun: 0, notNeeded: 2 });
    expect(plan.nodes.find((n) => n.id === 'left')?.reasons).toEqual([]);

    // join is gone too: it runs, and needs left, which needs load.
    await cache.delete(keyOf('join'));
    expect(status(await planDag(pipeline(), cache, { initialState }))).toEqual({
      load: 'will run',
      left: 'will run',
      right: 'cached',
      join: 'will run',
    });
  });

  it('needs every node of a key that one node needs, and the nodes marked modelArtifact', async () => {
    const cache = new MemoryCache();
    const nodes: NodeSpec[] = [
      { id: 'p1', stage: Scale({ factor: 2 }) },
      { id: 'p2', stage: Scale({ factor: 2 }) },
      { id: 'c1', stage: Scale({ factor: 5 }), deps: ['p1'] },
      { id: 'c2', stage: Scale({ factor: 7 }), deps: ['p2'] },
    ];
    const cold = await planDag(nodes, cache, { initialState });
    await runAll(cold, cache);
    await cache.delete(cold.nodes.find((n) => n.id === 'p1')?.key as string);
    expect(status(await planDag(nodes, cache, { initialState }))).toMatchObject({
      p1: 'not needed',
      p2: 'not needed',
    });
    await cache.delete(cold.nodes.find((n) => n.id === 'c2')?.key as string);
    // c2 runs on p2's result, which is p1's too: one computation serves both.
    expect(status(await planDag(nodes, cache, { initialState }))).toEqual({
      p1: 'will run',
      p2: 'will run',
      c1: 'cached',
      c2: 'will run',
    });
    const marked = pipeline().map((n) => (n.id === 'left' ? { ...n, modelArtifact: true } : n));
    const fresh = new MemoryCache();
    await runAll(await planDag(marked, fresh, { initialState }), fresh);
    const keys = await planDag(marked, fresh, { initialState });
    await fresh.delete(keys.nodes.find((n) => n.id === 'left')?.key as string);
    await fresh.delete(keys.nodes.find((n) => n.id === 'load')?.key as string);
    expect(status(await planDag(marked, fresh, { initialState }))).toMatchObject({
      load: 'will run',
      left: 'will run',
    });
  });
});

import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CacheEntry, defineStage, type NodeSpec } from '@phys/core';
import { MemoryCache } from '@phys/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatKeyChange, KEY_INPUTS_FIELD } from './dag-keys.js';
import { DiskCache } from './disk-cache.js';
import { type DagPlan, planDag } from './plan.js';

const Scale = defineStage({
  name: 'plan/scale',
  version: '1',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
});

const Scale2 = defineStage({
  name: 'plan/scale',
  version: '2',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
});

// load -> (left, right) -> join
function pipeline(leftFactor = 2, rightVersion: 1 | 2 = 1): NodeSpec[] {
  return [
    { id: 'load', stage: Scale({ factor: 1 }) },
    { id: 'left', stage: Scale({ factor: leftFactor }), deps: ['load'] },
    { id: 'right', stage: (rightVersion === 1 ? Scale : Scale2)({ factor: 3 }), deps: ['load'] },
    { id: 'join', stage: Scale({ factor: 1 }), deps: ['left', 'right'] },
  ];
}

/** Stores every planned node as an executor would after running it. */
async function runAll(plan: DagPlan, cache: DiskCache | MemoryCache): Promise<void> {
  for (const node of plan.nodes) {
    if (node.cached) continue;
    const entry: CacheEntry = {
      state: { x: 1 },
      metrics: {},
      provenance: { node: node.id, stage: node.inputs.stageName, [KEY_INPUTS_FIELD]: node.inputs },
    };
    await cache.put(node.key, entry);
  }
}

const why = (plan: DagPlan) =>
  Object.fromEntries(
    plan.nodes.map((n) => [n.id, n.cached ? 'cached' : formatKeyChange(n.reasons)]),
  );

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-plan-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('planDag', () => {
  const initialState = { x: 1 };

  it('says which nodes are cached and why the others will run', async () => {
    const cache = new DiskCache({ dir });
    const cold = await planDag(pipeline(), cache, { initialState });
    expect(cold).toMatchObject({ cached: 0, toRun: 4 });
    expect(new Set(Object.values(why(cold)))).toEqual(
      new Set(['new key (no earlier result of this node in the cache)']),
    );
    await runAll(cold, cache);

    const warm = await planDag(pipeline(), cache, { initialState });
    expect(warm).toMatchObject({ cached: 4, toRun: 0 });

    const edited = await planDag(pipeline(5), cache, { initialState });
    expect(why(edited)).toEqual({
      load: 'cached',
      left: 'changed config',
      right: 'cached',
      join: 'changed upstream (left)',
    });

    const bumped = await planDag(pipeline(2, 2), cache, { initialState });
    expect(why(bumped)).toEqual({
      load: 'cached',
      left: 'cached',
      right: 'changed version (1 -> 2)',
      join: 'changed upstream (right)',
    });

    const seeded = await planDag(pipeline(), cache, { initialState, policy: { seed: 7 } });
    expect(seeded.nodes.every((n) => n.reasons.some((r) => r.kind === 'policy'))).toBe(true);
    const moved = await planDag(pipeline(), cache, { initialState: { x: 2 } });
    expect(why(moved).load).toBe('changed initial state');

    // Lineage lives in the entries: once a node's only entry is gone, nothing is known of it.
    await cache.delete(warm.nodes.find((n) => n.id === 'join')?.key as string);
    expect(why(await planDag(pipeline(), cache, { initialState })).join).toMatch(/^new key/);
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

  it('works with any Cache, calling every miss new when the cache keeps no lineage', async () => {
    const cache = new MemoryCache();
    const cold = await planDag(pipeline(), cache, { initialState });
    await runAll(cold, cache);
    const edited = await planDag(pipeline(5), cache, { initialState });
    expect(edited.cached).toBe(2);
    expect(edited.nodes.filter((n) => !n.cached).map((n) => n.reasons)).toEqual([
      [{ kind: 'new' }],
      [{ kind: 'new' }],
    ]);
  });
});

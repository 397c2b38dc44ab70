import { fileURLToPath } from 'node:url';
import { defineStage, type NodeSpec, type PipelineStage } from '@phys/core';
import { z } from 'zod';

export const configFile = fileURLToPath(new URL('./fixtures/phys.config.ts', import.meta.url));

/** A seeded PRNG (mulberry32), so random DAGs are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random DAG: node i depends on up to `maxDeps` earlier nodes; ids are shuffled. */
export function randomDag(
  n: number,
  seed: number,
  stageFor: (id: string, deps: readonly string[]) => PipelineStage,
  maxDeps = 3,
): NodeSpec[] {
  const rand = prng(seed);
  const ids = Array.from({ length: n }, (_, i) => `n${i.toString(36)}_${Math.floor(rand() * 1e6)}`);
  const nodes: NodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    const count = i === 0 ? 0 : Math.floor(rand() * (maxDeps + 1));
    const deps = new Set<string>();
    for (let k = 0; k < count; k++) deps.add(ids[Math.floor(rand() * i)] as string);
    const id = ids[i] as string;
    nodes.push({ id, stage: stageFor(id, [...deps]), deps: [...deps] });
  }
  // shuffle the list: order of declaration must not matter
  for (let i = nodes.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [nodes[i], nodes[j]] = [nodes[j] as NodeSpec, nodes[i] as NodeSpec];
  }
  return nodes;
}

/**
 * A stage that checks the dependency relation itself: when it starts, every dep must already
 * have finished in this run; it then records itself as finished. `async` adds a macrotask hop so
 * that several nodes are in flight at once.
 */
export function orderChecker() {
  const finished = new Set<string>();
  const violations: string[] = [];
  let running = 0;
  let peak = 0;
  const Checked = defineStage({
    name: 'test/checked',
    version: '1',
    config: z.object({ deps: z.array(z.string()), async: z.boolean().default(false) }),
    process: (state: unknown, ctx) => {
      for (const dep of ctx.config.deps) {
        if (!finished.has(dep)) violations.push(`${ctx.nodeId} started before ${dep} finished`);
      }
      if (!ctx.config.async) {
        finished.add(ctx.nodeId);
        return { state };
      }
      running++;
      peak = Math.max(peak, running);
      return new Promise<{ state: unknown }>((resolve) =>
        setImmediate(() => {
          running--;
          finished.add(ctx.nodeId);
          resolve({ state });
        }),
      );
    },
  });
  return { Checked, finished, violations, peak: () => peak };
}

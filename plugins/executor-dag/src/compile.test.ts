import { type NodeSpec, StageRegistry } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { compileDag, recordedOrder } from './compile.js';

const stage = {
  name: 's',
  version: '1',
  process: (state: unknown) => ({ state }),
} as unknown as NodeSpec['stage'];
const node = (id: string, deps: string[] = []): NodeSpec => ({ id, stage, deps });

describe('compileDag', () => {
  it('builds deps and dependents in integer form, deps in declared order', () => {
    const dag = compileDag([node('a'), node('b', ['a']), node('c', ['a']), node('d', ['c', 'b'])], {
      defaultIsolation: 'inline',
    });
    const deps = (i: number) =>
      Array.from(dag.depList.subarray(dag.depStart[i], dag.depStart[i + 1]));
    const outs = (i: number) =>
      Array.from(dag.outList.subarray(dag.outStart[i], dag.outStart[i + 1]));
    expect(deps(3)).toEqual([2, 1]);
    expect(outs(0)).toEqual([1, 2]);
    expect(outs(3)).toEqual([]);
  });

  it('orders topologically with the smallest ready id first (the v2 probe example)', () => {
    // roots z, y; b <- z; a <- z, y; c <- a, b
    const dag = compileDag(
      [node('z'), node('y'), node('b', ['z']), node('a', ['z', 'y']), node('c', ['a', 'b'])],
      {
        defaultIsolation: 'inline',
      },
    );
    expect(Array.from(recordedOrder(dag), (i) => dag.ids[i])).toEqual(['y', 'z', 'a', 'b', 'c']);
  });

  it('reports every node of a shared invalid stage, and reads isolation per stage', () => {
    const broken = { name: 'broken' } as unknown as NodeSpec['stage'];
    const threaded = {
      ...stage,
      definition: { isolation: 'thread' },
    } as unknown as NodeSpec['stage'];
    let error: unknown;
    try {
      compileDag(
        [
          { id: 'x', stage: broken },
          { id: 'y', stage: broken },
        ],
        { defaultIsolation: 'inline' },
      );
    } catch (e) {
      error = e;
    }
    const problems = (error as { details?: { problems?: { kind: string; node: string }[] } })
      .details?.problems;
    expect(problems?.map((p) => `${p.kind}:${p.node}`)).toEqual([
      'missing-stage:x',
      'missing-stage:y',
    ]);
    const dag = compileDag(
      [
        { id: 'a', stage },
        { id: 'b', stage: threaded },
        { id: 'c', stage: threaded },
        { id: 'd', stage: threaded, isolation: 'inline' },
        { id: 'e', stage: threaded },
        { id: 'f', stage },
      ],
      { defaultIsolation: 'inline' },
    );
    expect(Array.from(dag.isolation)).toEqual([0, 1, 1, 0, 1, 0]);
  });

  it('accepts an empty DAG', () => {
    const dag = compileDag([], { defaultIsolation: 'inline' });
    expect(dag.n).toBe(0);
    expect(recordedOrder(dag)).toHaveLength(0);
  });

  it('collects every problem, including duplicated deps, bad retry, timeout and isolation', () => {
    expect(() =>
      compileDag(
        [
          node('a', ['a']),
          { id: 'b', stage, deps: ['a', 'a'] },
          { id: 'c', stage, retry: { maxAttempts: 0 } },
          { id: 'd', stage, timeoutSeconds: -1 },
          { id: 'e', stage, isolation: 'gpu' as never },
          { id: '', stage } as NodeSpec,
        ],
        { defaultIsolation: 'inline' },
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'PHYS_DAG_INVALID',
        message: expect.stringMatching(
          /6 problems[\s\S]*maxAttempts[\s\S]*timeoutSeconds[\s\S]*isolation "gpu"[\s\S]*position 5[\s\S]*depends on itself[\s\S]*'a' twice/,
        ),
      }),
    );
  });

  it('finds a cycle of many nodes without recursion', () => {
    const n = 50_000;
    const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`, [`n${(i + 1) % n}`]));
    expect(() => compileDag(nodes, { defaultIsolation: 'inline' })).toThrow(/Cycle detected: n/);
  });

  it('does not need a registry: stage identity is checked only where stages leave the thread', () => {
    expect(new StageRegistry().has('s')).toBe(false);
    expect(compileDag([node('x')], { defaultIsolation: 'inline' }).n).toBe(1);
  });
});

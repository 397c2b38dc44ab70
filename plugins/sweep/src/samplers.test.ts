import type { NodeSpec } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { Load, Train } from '../test/stages.js';
import { planSweep } from './expand-sweep.js';
import { gridPoints, sampledPoints, seededRandom, zipPoints } from './samplers.js';

const nodes = (): NodeSpec[] => [
  { id: 'load', stage: Load({}) },
  { id: 'train', stage: Train({ lr: 0.1 }), deps: ['load'] },
];

const space = {
  node: 'train',
  params: { lr: { min: 1e-4, max: 1, log: true }, bs: { values: [8, 16, 32, 64] } },
} as const;

describe('seededRandom', () => {
  it('draws the same numbers for the same seed and others for another', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom('42');
    const first = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(first);
    expect(Array.from({ length: 5 }, c)).not.toEqual(first);
    for (const x of first) expect(x >= 0 && x < 1).toBe(true);
  });

  it('is roughly uniform', () => {
    const rand = seededRandom(1);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) bins[Math.floor(rand() * 10)]! += 1;
    for (const count of bins) expect(Math.abs(count - 2000)).toBeLessThan(200);
  });
});

describe('random and Latin-hypercube sweeps', () => {
  it('reproduce their points for a given seed', () => {
    for (const mode of ['random', 'lhs'] as const) {
      const one = planSweep(nodes(), space, { mode, samples: 12, seed: 7 });
      const two = planSweep(nodes(), space, { mode, samples: 12, seed: 7 });
      const other = planSweep(nodes(), space, { mode, samples: 12, seed: 8 });
      expect(one.points.map((p) => p.label)).toEqual(two.points.map((p) => p.label));
      expect(one.points.map((p) => p.label)).not.toEqual(other.points.map((p) => p.label));
      for (const p of one.points) {
        const lr = p.params.lr as number;
        expect(lr >= 1e-4 && lr <= 1).toBe(true);
        expect([8, 16, 32, 64]).toContain(p.params.bs);
      }
    }
  });

  it('puts exactly one LHS point in each stratum of every parameter', () => {
    const n = 20;
    const plan = planSweep(
      nodes(),
      {
        node: 'train',
        params: { lr: { min: 1e-4, max: 1, log: true }, 'optimizer.momentum': { min: 0, max: 1 } },
      },
      { mode: 'lhs', samples: n, seed: 'strata' },
    );
    expect(plan.points).toHaveLength(n);
    const strata = (values: number[], toUnit: (v: number) => number) =>
      values.map((v) => Math.min(n - 1, Math.floor(toUnit(v) * n))).sort((a, b) => a - b);
    const lr = plan.points.map((p) => p.params.lr as number);
    const momentum = plan.points.map((p) => p.params['optimizer.momentum'] as number);
    const all = Array.from({ length: n }, (_, i) => i);
    expect(strata(lr, (v) => Math.log(v / 1e-4) / Math.log(1 / 1e-4))).toEqual(all);
    expect(strata(momentum, (v) => v)).toEqual(all);
  });

  it('validates sampled configs like any other point', () => {
    expect(() =>
      planSweep(
        nodes(),
        { node: 'train', params: { lr: { min: -1, max: 1 } } },
        {
          mode: 'random',
          samples: 4,
          seed: 1,
        },
      ),
    ).toThrow(/train\[lr=-?0\.\d+\]\.lr/);
  });

  it('draws whole numbers from integer ranges and keeps identical draws once', () => {
    const plan = planSweep(
      nodes(),
      { node: 'train', params: { bs: { min: 1, max: 3, integer: true } } },
      { mode: 'random', samples: 50, seed: 3 },
    );
    expect(plan.points.map((p) => p.params.bs).sort()).toEqual([1, 2, 3]);
    expect(new Set(plan.nodes.map((n) => n.id)).size).toBe(plan.nodes.length);
  });
});

/** `values` behind a proxy that counts the elements read from it. */
function counted(values: number[], reads: { n: number }): number[] {
  return new Proxy(values, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads.n++;
      return Reflect.get(target, key, receiver);
    },
  });
}

describe('point generators', () => {
  it('make grid points one at a time, without building the product first', () => {
    const reads = { n: 0 };
    const axis = counted(
      Array.from({ length: 1000 }, (_, i) => i),
      reads,
    );
    // 1,000,000 points; taking the first three reads a handful of values, not every point.
    const points = gridPoints([axis, axis]);
    expect(Array.isArray(points)).toBe(false);
    const first: number[][] = [];
    for (const point of points) {
      first.push(point as number[]);
      if (first.length === 3) break;
    }
    expect(first).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
    ]);
    expect(reads.n).toBeLessThan(10);
  });

  it('still give every grid point in order, the last axis fastest', () => {
    expect([
      ...gridPoints([
        [1, 2],
        ['a', 'b', 'c'],
      ]),
    ]).toEqual([
      [1, 'a'],
      [1, 'b'],
      [1, 'c'],
      [2, 'a'],
      [2, 'b'],
      [2, 'c'],
    ]);
    expect([
      ...zipPoints([
        [1, 2],
        ['a', 'b'],
      ]),
    ]).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    const space = { kind: 'range', range: { min: 0, max: 1 } } as const;
    expect([...sampledPoints([space], 'lhs', 4, 1)]).toHaveLength(4);
  });
});

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HistogramFamily, observeBoth } from './families.js';

const values = (...v: number[]) => Float64Array.from(v);

/** Counts, sum and count of a series, to compare two ways of filling it. */
function state(family: HistogramFamily, ...labels: string[]) {
  const s = family.child(...labels);
  return { counts: [...s.counts], sum: s.sum, count: s.count };
}

describe('histogram families', () => {
  for (const bounds of [[0.001, 0.01, 1], []]) {
    it(`observeBoth fills two series as observeMany and observe do (bounds [${bounds}])`, () => {
      const registry = new Registry();
      const fused = new HistogramFamily('fused', 'h', ['which'], bounds).register(registry);
      const apart = new HistogramFamily('apart', 'h', ['which'], bounds).register(registry);
      const single = new HistogramFamily('single', 'h', ['which'], bounds).register(registry);
      const q = values(0, 0.0005, 0.002, 0.5, 3, Number.NaN);
      const d = values(0.001, 0.02, 0, 7, 0.0001, 0.01);
      observeBoth(fused.child('q'), q, fused.child('d'), d, 1, 6);
      apart.child('q').observeMany(q, 1, 6);
      apart.child('d').observeMany(d, 1, 6);
      for (let k = 1; k < 6; k++) {
        single.child('q').observe(q[k] as number);
        single.child('d').observe(d[k] as number);
      }
      for (const which of ['q', 'd']) {
        expect(state(fused, which)).toEqual(state(apart, which));
        expect(state(fused, which)).toEqual(state(single, which));
        expect(state(fused, which).count).toBe(5);
        expect(state(fused, which).counts.reduce((a, b) => a + b, 0)).toBe(5);
      }
    });
  }
});

import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HistogramFamily } from './families.js';

/** Counts, sum and count of a series, to compare two ways of filling it. */
function state(family: HistogramFamily, ...labels: string[]) {
  const s = family.child(...labels);
  return { counts: [...s.counts], sum: s.sum, count: s.count };
}

describe('histogram families', () => {
  for (const bounds of [[0.001, 0.01, 1], []]) {
    it(`add() of values binned elsewhere fills a series as observe() does (bounds [${bounds}])`, async () => {
      const registry = new Registry();
      const added = new HistogramFamily('added', 'h', ['which'], bounds).register(registry);
      const observed = new HistogramFamily('observed', 'h', ['which'], bounds).register(registry);
      const values = [0, 0.0005, 0.001, 0.002, 0.5, 3, 0.01];
      const counts = new Float64Array(bounds.length + 1);
      for (const v of values) {
        const b = bounds.findIndex((bound) => v <= bound);
        (counts[b < 0 ? bounds.length : b] as number)++;
        observed.child('x').observe(v);
      }
      const sum = values.reduce((a, b) => a + b, 0);
      // In two parts, as two summaries: bucket 0, then the others.
      const low = counts.map((c, b) => (b === 0 ? c : 0));
      const high = counts.map((c, b) => (b === 0 ? 0 : c));
      const n0 = counts[0] as number;
      added.child('x').add(low, sum / 2, n0);
      added.child('x').add(high, sum / 2, values.length - n0);
      expect(state(added, 'x')).toEqual(state(observed, 'x'));
      expect(state(added, 'x').count).toBe(values.length);
      const text = await registry.metrics();
      const lines = (name: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith(name))
          .map((l) => l.slice(name.length));
      expect(lines('added')).toEqual(lines('observed'));
    });
  }

  it('refuses counts for fewer buckets than its own', () => {
    const family = new HistogramFamily('h', 'h', [], [0.1, 1]);
    expect(() => family.child().add([1, 2], 1, 3)).toThrow(/3 bucket counts expected, got 2/);
  });
});

import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../src/metrics.js';
import { dashboardQueries, guideQueries, metricsOf } from './dashboard.js';

const known = new Set<string>(Object.values(METRIC_NAMES));

describe('the Grafana dashboard and the guide', () => {
  it('query only metrics the collector exports', () => {
    const queries = [...dashboardQueries().map((q) => q.expr), ...guideQueries()];
    expect(dashboardQueries().length).toBeGreaterThanOrEqual(15);
    expect(guideQueries().length).toBeGreaterThanOrEqual(4);
    const unknown = queries.flatMap(metricsOf).filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });

  it('show the gauges, the histograms and the cache counters', () => {
    const used = new Set(dashboardQueries().flatMap((q) => metricsOf(q.expr)));
    expect([...known].filter((name) => !used.has(name))).toEqual([]);
  });
});

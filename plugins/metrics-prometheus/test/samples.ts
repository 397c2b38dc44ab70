// Reading a collector's registry the way a scrape does, for the unit tests.
import type { PrometheusMetricsCollector } from '../src/collector.js';

type Labels = Record<string, string>;

/** The sum of the samples named `name` whose labels include `labels`, as a scrape reads them. */
export async function read(
  c: PrometheusMetricsCollector,
  name: string,
  labels: Labels = {},
): Promise<number> {
  let sum = 0;
  for (const family of await c.registry.getMetricsAsJSON()) {
    for (const v of family.values as { labels: Labels; value: number; metricName?: string }[]) {
      if ((v.metricName ?? family.name) !== name) continue;
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) sum += v.value;
    }
  }
  return sum;
}

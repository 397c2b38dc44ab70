import type { SweepPlan } from './expand-sweep.js';
import type { ResultsRow, ResultsTable } from './results-table.js';

/** Options of {@link sweepResults}. @public */
export interface SweepResultsOptions {
  /** Original ids of the nodes whose metrics become columns (default: every duplicated node). */
  readonly nodes?: readonly string[];
  /** Only these metric names (default: every metric the nodes reported). */
  readonly metrics?: readonly string[];
}

/**
 * Builds the results table of a finished sweep from the run's namespaced metrics
 * (`<node id>.<metric>`, as `DagExecutor` and `phys run` report them): one row per point, its
 * parameters, then the metrics of its copies of the chosen nodes. Columns are `node.metric`,
 * or the bare metric name when only one node reported metrics. A point that did not produce a
 * metric (it failed, or was skipped) has null there.
 * @public
 */
export function sweepResults(
  plan: SweepPlan,
  metrics: Readonly<Record<string, number>>,
  options: SweepResultsOptions = {},
): ResultsTable {
  const chosen = options.nodes ?? plan.expanded;
  const wanted = options.metrics === undefined ? undefined : new Set(options.metrics);
  // Which original node each copy belongs to, to read `<copy id>.<metric>` keys in one pass.
  const copies = new Map<string, string>();
  for (const point of plan.points) {
    for (const base of chosen) {
      const copy = point.nodes[base];
      if (copy !== undefined) copies.set(copy, base);
    }
  }
  const byCopy = new Map<string, [string, number][]>();
  for (const [key, value] of Object.entries(metrics)) {
    // Node ids may hold dots (`lr=0.01`); the longest id that prefixes the key is the node.
    for (let dot = key.lastIndexOf('.'); dot > 0; dot = key.lastIndexOf('.', dot - 1)) {
      const copy = key.slice(0, dot);
      if (!copies.has(copy)) continue;
      const name = key.slice(dot + 1);
      if (wanted === undefined || wanted.has(name)) {
        const list = byCopy.get(copy);
        if (list === undefined) byCopy.set(copy, [[name, value]]);
        else list.push([name, value]);
      }
      break;
    }
  }
  const reporting = new Set<string>();
  for (const copy of byCopy.keys()) reporting.add(copies.get(copy) as string);
  const qualify = reporting.size > 1;
  const paramSet = new Set(plan.params);
  const columns = new Set<string>();
  const rows: ResultsRow[] = plan.points.map((point) => {
    const values: Record<string, number | null> = {};
    for (const base of chosen) {
      const copy = point.nodes[base];
      for (const [name, value] of (copy === undefined ? undefined : byCopy.get(copy)) ?? []) {
        const column = qualify || paramSet.has(name) ? `${base}.${name}` : name;
        columns.add(column);
        values[column] = value;
      }
    }
    return { point: point.label, params: point.params, metrics: values };
  });
  const metricColumns = [...columns];
  return {
    params: plan.params,
    metrics: metricColumns,
    rows: rows.map((row) => ({
      ...row,
      metrics: Object.fromEntries(metricColumns.map((m) => [m, row.metrics[m] ?? null])),
    })),
  };
}

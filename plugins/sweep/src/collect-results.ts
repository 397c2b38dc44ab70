import { type ArtifactData, DagState, defineStage, PhysError } from '@phys/core';
import { z } from 'zod';
import { isPlainObject, type SweepValue } from './render-value.js';
import {
  type ResultsJson,
  type ResultsRow,
  type ResultsTable,
  toCsv,
  toJson,
} from './results-table.js';

const pointSchema = z.object({
  /** The point's label, e.g. `bs=32,lr=0.01`. */
  label: z.string(),
  /** Parameter values by column name. */
  params: z.record(z.string(), z.unknown()),
  /** The node ids this point feeds in, by original node id. */
  inputs: z.record(z.string(), z.string()),
});

/**
 * A ready-made collect stage for sweeps: turns the states of every point into a results table,
 * one row per point with its parameters and its numbers, and returns it as its state (the JSON
 * form) and as the artifacts `results.csv` (RFC 4180) and `results.json`.
 *
 * DAG edges carry states, not metrics, so the numbers come from the states of the collected
 * nodes: the fields listed in `metrics` (dotted paths allowed), or by default every top-level
 * number of an object state (a state that is itself a number becomes the column `value`). With
 * several collected nodes per point the columns are `node.field`. `expandSweep` fills in
 * `points` and `params`; give only `metrics`, e.g. `collectResults({ metrics: ['loss'] })`.
 * @public
 */
export const collectResults = defineStage({
  name: 'sweep/collect-results',
  version: '1',
  description:
    'Fans in every point of a sweep into a results table, written as CSV and JSON artifacts',
  config: z.object({
    points: z.array(pointSchema).default([]),
    params: z.array(z.string()).default([]),
    metrics: z.array(z.string()).optional(),
  }),
  process(state: unknown, ctx) {
    const { points, params, metrics: wanted } = ctx.config;
    const inputs = DagState.is(state) ? state : undefined;
    const listed =
      points.length > 0
        ? points
        : inputs === undefined
          ? [{ label: ctx.nodeId, params: {}, inputs: { value: '' } }]
          : [...inputs.keys()].map((id) => ({ label: id, params: {}, inputs: { [id]: id } }));
    const sources = [...new Set(listed.flatMap((p) => Object.keys(p.inputs)))];
    const qualify = sources.length > 1;
    const paramSet = new Set(params);
    const columns = new Set<string>();
    const rows: ResultsRow[] = listed.map((point) => {
      const values: Record<string, number | null> = {};
      for (const [source, id] of Object.entries(point.inputs)) {
        let value: unknown;
        if (inputs === undefined) value = state;
        else if (inputs.has(id)) value = inputs.get(id);
        else {
          throw new PhysError(
            'PHYS_SWEEP_INVALID',
            `collectResults (node '${ctx.nodeId}') expected an input from node '${id}' for point ${point.label}, but its inputs are ${[...inputs.keys()].join(', ')}. Let expandSweep build the collect node (options.collect) rather than wiring it by hand.`,
          );
        }
        for (const [name, v] of numbersOf(value, wanted)) {
          let column = qualify ? `${source}.${name}` : name;
          if (paramSet.has(column)) column = `${source}.${name}`;
          columns.add(column);
          values[column] = v;
        }
      }
      return {
        point: point.label,
        params: point.params as Record<string, SweepValue>,
        metrics: values,
      };
    });
    const metricColumns = wanted === undefined ? [...columns] : orderLike(wanted, [...columns]);
    const table: ResultsTable = {
      params:
        params.length > 0 ? params : [...new Set(listed.flatMap((p) => Object.keys(p.params)))],
      metrics: metricColumns,
      rows: rows.map((row) => ({
        ...row,
        metrics: Object.fromEntries(metricColumns.map((m) => [m, row.metrics[m] ?? null])),
      })),
    };
    const json: ResultsJson = toJson(table);
    return {
      state: json,
      metrics: { points: rows.length },
      artifacts: {
        'results.csv': toCsv(table),
        'results.json': json as unknown as ArtifactData,
      },
    };
  },
});

/** Columns in the order the `metrics` option lists them (qualified ones after their field). */
function orderLike(wanted: readonly string[], columns: readonly string[]): string[] {
  const rank = (column: string) => {
    const i = wanted.findIndex((w) => column === w || column.endsWith(`.${w}`));
    return i === -1 ? wanted.length : i;
  };
  return [...columns].sort((a, b) => rank(a) - rank(b));
}

/** The numbers of one collected state, as [column, value] pairs. */
function numbersOf(
  value: unknown,
  wanted: readonly string[] | undefined,
): [string, number | null][] {
  if (wanted !== undefined) {
    return wanted.map((path) => [path, asNumber(getPath(value, path.split('.')))]);
  }
  if (typeof value === 'number') return [['value', value]];
  if (typeof value === 'bigint') return [['value', Number(value)]];
  if (!isPlainObject(value)) return [];
  const out: [string, number | null][] = [];
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'number') out.push([key, v]);
  }
  return out;
}

function getPath(value: unknown, path: readonly string[]): unknown {
  let at = value;
  for (const key of path) {
    if (at instanceof Map) at = at.get(key);
    else if (typeof at === 'object' && at !== null) at = (at as Record<string, unknown>)[key];
    else return undefined;
  }
  return at;
}

function asNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return null;
}

import { renderValue, type SweepValue } from './render-value.js';

/** One row of a {@link ResultsTable}: a point's parameters and the metrics it produced. @public */
export interface ResultsRow {
  /** The point's label, e.g. `bs=32,lr=0.01`. */
  readonly point: string;
  /** Parameter values by column name. */
  readonly params: Readonly<Record<string, SweepValue>>;
  /** Metric values; null when the point did not produce the metric (e.g. it failed). */
  readonly metrics: Readonly<Record<string, number | null>>;
}

/** One row per sweep point: parameters, then metrics. @public */
export interface ResultsTable {
  /** Parameter column names, in order. */
  readonly params: readonly string[];
  /** Metric column names, in order. */
  readonly metrics: readonly string[];
  /** One per point, in point order. */
  readonly rows: readonly ResultsRow[];
}

/** Version tag of the JSON form of a results table. @public */
export const RESULTS_FORMAT = 'phys-sweep-results/1';

/** The JSON form of a results table (what `results.json` holds). @public */
export interface ResultsJson {
  /** Always {@link RESULTS_FORMAT}. */
  readonly format: typeof RESULTS_FORMAT;
  /** Parameter column names. */
  readonly params: readonly string[];
  /** Metric column names. */
  readonly metrics: readonly string[];
  /** One per point; non-finite metrics as strings. */
  readonly rows: readonly {
    readonly point: string;
    readonly params: Readonly<Record<string, unknown>>;
    readonly metrics: Readonly<Record<string, number | string | null>>;
  }[];
}

/** Column names of a table as written to CSV: `point`, the parameters, then the metrics. @public */
export function tableColumns(table: ResultsTable): string[] {
  return ['point', ...table.params, ...table.metrics];
}

/** The cells of one row, rendered as text, in {@link tableColumns} order. @public */
export function rowCells(table: ResultsTable, row: ResultsRow): string[] {
  return [
    row.point,
    ...table.params.map((p) => cellText(row.params[p])),
    ...table.metrics.map((m) => cellText(row.metrics[m])),
  ];
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return String(value);
  return renderValue(value);
}

/**
 * The table as CSV per RFC 4180: a header row, CRLF line ends, and fields that hold a comma, a
 * double quote, CR or LF enclosed in double quotes with inner quotes doubled. Missing metrics
 * are empty fields.
 * @public
 */
export function toCsv(table: ResultsTable): string {
  const lines = [tableColumns(table), ...table.rows.map((row) => rowCells(table, row))];
  return lines
    .map((cells) => cells.map(csvField).join(','))
    .join('\r\n')
    .concat('\r\n');
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The table as a JSON-safe value. Non-finite metrics become the strings `NaN`, `Infinity` and
 * `-Infinity`, bigints their decimal strings.
 * @public
 */
export function toJson(table: ResultsTable): ResultsJson {
  return {
    format: RESULTS_FORMAT,
    params: [...table.params],
    metrics: [...table.metrics],
    rows: table.rows.map((row) => ({
      point: row.point,
      params: jsonSafe(row.params) as Record<string, unknown>,
      metrics: Object.fromEntries(
        table.metrics.map((m) => {
          const v = row.metrics[m];
          return [m, v === undefined || v === null ? null : Number.isFinite(v) ? v : String(v)];
        }),
      ),
    })),
  };
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

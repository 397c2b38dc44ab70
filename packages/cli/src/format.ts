import { DagState, inlineOrPreview, type NodeStatus } from '@phys/core';

/** A number as a person reads it: integers whole, others to 6 significant digits. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e9)) return value.toExponential(4);
  // toPrecision keeps trailing zeros ("12.3000"); Number() drops them.
  return String(Number(value.toPrecision(6)));
}

/** `1 stage`, `3 stages`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Seconds as `850 µs`, `12.3 ms`, `4.21 s` or `2m 03s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  if (seconds < 1e-3) return `${Math.round(seconds * 1e6)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(1)} ms`;
  if (seconds < 60) return `${seconds.toFixed(2)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.floor(seconds % 60);
  return `${m}m ${String(s).padStart(2, '0')}s`;
}

/** Elapsed time on the live display: `4.2s`, `2m03s`. */
export function formatElapsed(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

// The order statuses are shown in: the ones a person looks for first.
const SHOWN: readonly NodeStatus[] = [
  'COMPLETED',
  'CACHED',
  'RUNNING',
  'QUEUED',
  'FAILED',
  'TIMEOUT',
  'CANCELLED',
  'SKIPPED',
];

/** `12 completed · 2 running · 1 failed`: every status with a non-zero count. */
export function formatCounts(counts: Readonly<Partial<Record<NodeStatus, number>>>): string {
  const parts: string[] = [];
  for (const status of SHOWN) {
    const n = counts[status] ?? 0;
    if (n > 0) parts.push(`${n} ${status.toLowerCase()}`);
  }
  return parts.length === 0 ? 'nothing started' : parts.join(' · ');
}

export type Align = 'left' | 'right';

/** Rows as aligned columns separated by two spaces; the first row is the header. */
export function table(
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const last = i === row.length - 1;
        if (align[i] === 'right') return cell.padStart(widths[i]!);
        return last ? cell : cell.padEnd(widths[i]!);
      })
      .join('  ')
      .trimEnd(),
  );
}

/**
 * A JSON-safe copy of a state, metric or artifact value: large arrays become previews (as in
 * unrecorded artifacts), typed arrays plain arrays, bigints strings, Maps objects, Sets arrays,
 * functions `"[lazy]"`, and cycles `"[cycle]"`.
 */
export function toJsonValue(value: unknown, seen: Set<object> = new Set()): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function') return '[lazy]';
  if (typeof value !== 'object') return undefined;
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  try {
    if (value instanceof Date) return value.toISOString();
    if (ArrayBuffer.isView(value) || Array.isArray(value)) {
      const shown = inlineOrPreview(value);
      if (shown !== value) return toJsonValue(shown, seen);
      if (value instanceof DataView) return { dataView: value.byteLength };
      return Array.from(value as ArrayLike<unknown>, (v) => toJsonValue(v, seen));
    }
    if (DagState.is(value)) {
      const inputs: Record<string, unknown> = {};
      for (const [k, v] of value.inputs) inputs[k] = toJsonValue(v, seen);
      return { inputs };
    }
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value) out[String(k)] = toJsonValue(v, seen);
      return out;
    }
    if (value instanceof Set) return [...value].map((v) => toJsonValue(v, seen));
    if (value instanceof Error) return { name: value.name, message: value.message };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const converted = toJsonValue(v, seen);
      if (converted !== undefined) out[k] = converted;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

/** Pretty JSON of a value already made JSON-safe. */
export function stringify(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

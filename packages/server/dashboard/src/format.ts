// Small formatting helpers shared by the pages.
import type { RunRecord } from './api.js';

export const TERMINAL = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'CACHED',
]);

/** Seconds as `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A run's duration: recorded once it ended, counted from its start while it runs. */
export function runDuration(
  run: Pick<RunRecord, 'durationSeconds' | 'startedAt' | 'status'>,
): string {
  if (run.durationSeconds !== undefined) return duration(run.durationSeconds);
  if (run.startedAt !== undefined && run.status === 'RUNNING') {
    return duration((Date.now() - Date.parse(run.startedAt)) / 1000);
  }
  return '–';
}

/** An ISO time in the viewer's locale, date left out when it is today. */
export function time(iso: string | undefined): string {
  if (iso === undefined) return '–';
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today ? at.toLocaleTimeString() : `${at.toLocaleDateString()} ${at.toLocaleTimeString()}`;
}

/** Who or what started a run. */
export function trigger(run: Pick<RunRecord, 'trigger'>): string {
  const t = run.trigger;
  if (t.kind === 'schedule')
    return `schedule ${t.schedule}${t.manual === true ? ' (by hand)' : ''}`;
  return t.by === undefined ? t.kind : `${t.kind} (${t.by})`;
}

/** A value for a table cell. */
export function value(v: unknown): string {
  if (typeof v === 'number')
    return Number.isInteger(v) ? String(v) : v.toPrecision(6).replace(/\.?0+$/, '');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** The base id of a sweep copy (`mc[temperature=1.6]` → `mc`), else the id itself. */
export function baseId(id: string): string {
  const open = id.indexOf('[');
  return open > 0 && id.endsWith(']') ? id.slice(0, open) : id;
}

/** A node's metrics among the run's (`<…>.<node id>.<metric>` keys), by metric name. */
export function nodeMetrics(
  metrics: Readonly<Record<string, number>> | undefined,
  id: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  if (metrics === undefined) return out;
  const marker = `${id}.`;
  for (const [key, v] of Object.entries(metrics)) {
    const at = key.startsWith(marker) ? 0 : key.indexOf(`.${marker}`) + 1;
    if (at === 0 && !key.startsWith(marker)) continue;
    out[key.slice(at + marker.length)] = v;
  }
  return out;
}

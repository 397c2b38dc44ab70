import { isTerminal, type NodeStatus, type ProgressEvent } from '@phys/core';
import { createLogUpdate } from 'log-update';
import type { CliWritable } from './context.js';
import { formatCounts, formatElapsed } from './format.js';

export { formatCounts };

/** Receives node status changes while a run is going and shows them. */
export interface ProgressReporter {
  onProgress(event: ProgressEvent): void;
  /** Ends the display (the live frame is cleared so the summary follows on a clean screen). */
  stop(): void;
}

/** Lists running node ids that fit in `width` characters, then how many more there are. */
export function formatRunning(running: readonly string[], width: number): string {
  const head = 'running: ';
  let line = head;
  let shown = 0;
  for (const id of running) {
    const rest = running.length - shown - 1;
    const suffix = rest > 0 ? ` (+${rest} more)` : '';
    const next = `${line}${shown === 0 ? '' : ', '}${id}`;
    if (shown > 0 && next.length + suffix.length > width) break;
    line = next;
    shown++;
  }
  const more = running.length - shown;
  return more > 0 ? `${line} (+${more} more)` : line;
}

interface Tracker {
  readonly running: Set<string>;
  counts: Readonly<Partial<Record<NodeStatus, number>>>;
  total: number;
  finished: number;
}

function track(tracker: Tracker, event: ProgressEvent): void {
  tracker.counts = event.counts;
  tracker.total = event.total;
  if (event.status === 'RUNNING') tracker.running.add(event.node);
  else tracker.running.delete(event.node);
  let finished = 0;
  for (const [status, n] of Object.entries(event.counts)) {
    if (isTerminal(status as NodeStatus)) finished += n ?? 0;
  }
  tracker.finished = finished;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  readonly stream: CliWritable;
  /** Redraw in place (a terminal) or print one line per event (a pipe, a log file, CI). */
  readonly live: boolean;
  /** Shown in the live header, e.g. `phys run projectile-sweep`. */
  readonly title: string;
  /** Number of nodes (or stages), shown before the first event arrives. */
  readonly total?: number;
  /** Milliseconds between redraws of the live display (default 100: at most 10 per second). */
  readonly intervalMs?: number;
  /** Clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
}

/**
 * A progress display for `phys run`. On a terminal it redraws, at most ten times a second, the
 * counts by status, the running nodes and the elapsed time. Elsewhere it prints one line per
 * status change (QUEUED events excepted: every node starts queued).
 */
export function createProgress(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const total = options.total ?? 0;
  const tracker: Tracker = {
    running: new Set(),
    counts: total > 0 ? { QUEUED: total } : {},
    total,
    finished: 0,
  };
  if (!options.live) return plainProgress(options.stream, tracker, now, started);

  const update = createLogUpdate(options.stream as NodeJS.WriteStream);
  const frame = (): string => {
    const width = Math.max(40, (options.stream.columns ?? 80) - 1);
    const elapsed = formatElapsed((now() - started) / 1000);
    const lines = [
      `${options.title}  ${tracker.finished}/${tracker.total}  ${elapsed}`,
      `  ${formatCounts(tracker.counts)}`,
    ];
    if (tracker.running.size > 0) lines.push(`  ${formatRunning([...tracker.running], width - 2)}`);
    return lines.join('\n');
  };
  update(frame());
  // The timer only repaints; it never drives the run, and unref() lets the process exit.
  const timer = setInterval(() => update(frame()), options.intervalMs ?? 100);
  timer.unref();
  let stopped = false;
  return {
    onProgress(event) {
      track(tracker, event);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      update.clear();
      update.done();
    },
  };
}

function plainProgress(
  stream: CliWritable,
  tracker: Tracker,
  now: () => number,
  started: number,
): ProgressReporter {
  return {
    onProgress(event) {
      track(tracker, event);
      if (event.status === 'QUEUED') return;
      const width = String(tracker.total).length;
      const done = String(tracker.finished).padStart(width);
      const elapsed = formatElapsed((now() - started) / 1000).padStart(6);
      stream.write(
        `${elapsed} [${done}/${tracker.total}] ${event.status.padEnd(9)} ${event.node}\n`,
      );
    },
    stop() {},
  };
}

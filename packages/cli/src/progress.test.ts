import type { NodeStatus, ProgressEvent } from '@phys/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, formatCounts, formatRunning } from './progress.js';

class Stream {
  writes: string[] = [];
  readonly isTTY: boolean;
  readonly columns = 80;
  readonly rows = 24;
  constructor(isTTY: boolean) {
    this.isTTY = isTTY;
  }
  write(chunk: string): boolean {
    this.writes.push(chunk);
    return true;
  }
  get text(): string {
    return this.writes.join('');
  }
}

function event(
  node: string,
  status: NodeStatus,
  counts: Partial<Record<NodeStatus, number>>,
  total = 10,
): ProgressEvent {
  return { node, status, counts, total };
}

describe('formatCounts', () => {
  it('lists non-zero counts, completed first and queued before failures', () => {
    expect(formatCounts({ FAILED: 1, COMPLETED: 3, QUEUED: 0, RUNNING: 2 })).toBe(
      '3 completed · 2 running · 1 failed',
    );
    expect(formatCounts({})).toBe('nothing started');
  });
});

describe('formatRunning', () => {
  it('shows as many ids as fit, then how many more', () => {
    expect(formatRunning(['a', 'b'], 80)).toBe('running: a, b');
    const ids = Array.from({ length: 50 }, (_, i) => `integrate-${i}`);
    const line = formatRunning(ids, 60);
    expect(line.length).toBeLessThanOrEqual(60);
    expect(line).toMatch(/^running: integrate-0, integrate-1, .* \(\+\d+ more\)$/);
    const shown = line.split(', ').length;
    expect(line).toContain(`(+${50 - shown} more)`);
  });
});

describe('plain progress (not a terminal)', () => {
  it('prints one line per status change, skipping QUEUED', () => {
    let t = 0;
    const stream = new Stream(false);
    const progress = createProgress({ stream, live: false, title: 'x', now: () => t });
    progress.onProgress(event('a', 'QUEUED', { QUEUED: 2 }, 2));
    progress.onProgress(event('a', 'RUNNING', { QUEUED: 1, RUNNING: 1 }, 2));
    t = 1500;
    progress.onProgress(event('a', 'COMPLETED', { QUEUED: 1, COMPLETED: 1 }, 2));
    progress.onProgress(event('b', 'SKIPPED', { COMPLETED: 1, SKIPPED: 1 }, 2));
    progress.stop();
    expect(stream.text.split('\n')).toEqual([
      '  0.0s [0/2] RUNNING   a',
      '  1.5s [1/2] COMPLETED a',
      '  1.5s [2/2] SKIPPED   b',
      '',
    ]);
  });
});

describe('live progress (a terminal)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('redraws counts, running nodes and elapsed time at most once per interval', () => {
    let t = 0;
    const stream = new Stream(true);
    const progress = createProgress({
      stream,
      live: true,
      title: 'phys run sweep',
      total: 10,
      intervalMs: 100,
      now: () => t,
    });
    expect(stream.text).toContain('phys run sweep  0/10  0.0s');
    expect(stream.text).toContain('10 queued');
    const before = stream.writes.length;

    // A burst of events between two ticks draws nothing by itself.
    for (let i = 0; i < 5; i++) {
      progress.onProgress(event(`n${i}`, 'RUNNING', { RUNNING: i + 1, QUEUED: 9 - i }));
    }
    progress.onProgress(event('n0', 'COMPLETED', { COMPLETED: 1, RUNNING: 4, QUEUED: 5 }));
    expect(stream.writes.length).toBe(before);

    t = 2300;
    vi.advanceTimersByTime(100);
    const frame = stream.writes.slice(before).join('');
    expect(stream.writes.length).toBe(before + 1);
    expect(frame).toContain('1/10');
    expect(frame).toContain('2.3s');
    expect(frame).toContain('1 completed · 4 running · 5 queued');
    expect(frame).toContain('running: n1, n2, n3, n4');
    expect(frame).not.toContain('n0,');

    progress.stop();
    const after = stream.writes.length;
    vi.advanceTimersByTime(1000);
    expect(stream.writes.length).toBe(after);
    // The frame is erased (cursor up + erase line) so the summary starts on a clean screen.
    expect(stream.writes.at(-1)).toContain('\u001B[2K');
  });
});

import type { ScheduleClock } from './schedule-runner.js';

interface Timer {
  readonly at: number;
  readonly fn: () => void;
}

/**
 * A {@link ScheduleClock} that only moves when a test moves it: `now()` is what the test set,
 * and timers fire when the test advances to them (`fireNext`), so a week of schedules runs in
 * a moment and never depends on the machine's speed.
 * @public
 */
export class ManualClock implements ScheduleClock {
  #now: number;
  readonly #timers = new Map<number, Timer>();
  #next = 0;

  /** Starts at `start` (ISO 8601 or ms since the epoch). */
  constructor(start: string | number) {
    this.#now = typeof start === 'string' ? Date.parse(start) : start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock to `at` (ISO 8601 or ms), forwards or back; fires no timer. */
  set(at: string | number): void {
    this.#now = typeof at === 'string' ? Date.parse(at) : at;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves to the earliest timer due at or before `limit` (ms or ISO) and fires it; false when
   * there is none.
   */
  fireNext(limit: string | number): boolean {
    const end = typeof limit === 'string' ? Date.parse(limit) : limit;
    let first: [number, Timer] | undefined;
    for (const entry of this.#timers) {
      if (first === undefined || entry[1].at < first[1].at) first = entry;
    }
    if (first === undefined || first[1].at > end) return false;
    this.#timers.delete(first[0]);
    this.#now = Math.max(this.#now, first[1].at);
    first[1].fn();
    return true;
  }
}

// Work a DiskCache defers off its hot path and does about a second later, all at once: touching
// the mtime of entries that were hit (recency that survives reopening) and, with
// `fsync: 'batch'`, fsyncing the entries written and their directories.

import fs from 'node:fs';
import { fsyncPath, inBatches } from './fs-util.js';

const BATCH_DELAY_MS = 1000;

/** Pending mtime touches and fsyncs, flushed together on a timer or on demand. */
export class BackgroundSync {
  #touches = new Set<string>();
  #dirtyFiles = new Set<string>();
  #dirtyDirs = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /** The entry at `path` was used: refresh its mtime. */
  touched(path: string): void {
    this.#touches.add(path);
    this.#schedule();
  }

  /** The entry at `path` was written into `dir`: fsync both. */
  written(path: string, dir: string): void {
    this.#dirtyFiles.add(path);
    this.#dirtyDirs.add(dir);
    this.#schedule();
  }

  /** The entry at `path` is gone: nothing left to do for it. */
  drop(path: string): void {
    this.#touches.delete(path);
    this.#dirtyFiles.delete(path);
  }

  /** Every entry is gone. */
  dropAll(): void {
    this.#touches.clear();
    this.#dirtyFiles.clear();
  }

  /** Does the pending work now. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const touches = this.#touches;
    const files = this.#dirtyFiles;
    const dirs = this.#dirtyDirs;
    this.#touches = new Set();
    this.#dirtyFiles = new Set();
    this.#dirtyDirs = new Set();
    const previous = this.#flushing;
    this.#flushing = (async () => {
      await previous;
      const now = new Date();
      // lutimes: a link swapped in for an entry since its read is touched, never its target.
      await inBatches([...touches], (path) => fs.promises.lutimes(path, now, now));
      await inBatches([...files], fsyncPath);
      await inBatches([...dirs], fsyncPath);
    })();
    await this.#flushing;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => {});
    }, BATCH_DELAY_MS);
    // Background durability must never keep a finished process alive.
    this.#timer.unref();
  }
}

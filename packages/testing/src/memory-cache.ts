import type { Cache, CacheEntry, CacheStats } from '@phys/core';
import { decodeState, encodeState, PhysError } from '@phys/core';

/** Options of {@link MemoryCache}. @public */
export interface MemoryCacheOptions {
  /** Reported as `cache.name` (default `memory`). */
  readonly name?: string;
  /** Evict the least recently used entries beyond this count (default: unbounded). */
  readonly maxEntries?: number;
}

/**
 * An in-process `Cache` for tests and short-lived runs. Entries are stored encoded with the
 * state codec, so a caller that mutates what it put or got never changes what is cached, and
 * `bytes` counts what a disk cache would write. Bytes that fail to decode are a miss (counted
 * in `corrupt`), never an error.
 * @public
 */
export class MemoryCache implements Cache {
  readonly name: string;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Uint8Array>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #corrupt = 0;
  #evictions = 0;

  constructor(options: MemoryCacheOptions = {}) {
    const max = options.maxEntries ?? Number.POSITIVE_INFINITY;
    if (!(max >= 1)) {
      throw new PhysError(
        'PHYS_USAGE',
        `MemoryCache maxEntries must be at least 1, got ${String(options.maxEntries)}.`,
      );
    }
    this.name = options.name ?? 'memory';
    this.#maxEntries = max;
  }

  /** The entry under `key` (a fresh copy), or undefined on a miss. */
  async get(key: string): Promise<CacheEntry | undefined> {
    checkKey(key);
    const bytes = this.#entries.get(key);
    if (bytes === undefined) {
      this.#misses++;
      return undefined;
    }
    let entry: CacheEntry;
    try {
      entry = decodeState(bytes, { copy: true }) as CacheEntry;
    } catch {
      this.#remove(key);
      this.#corrupt++;
      this.#misses++;
      return undefined;
    }
    // Re-inserting keeps Map order = least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, bytes);
    this.#hits++;
    return entry;
  }

  /** Stores a copy of `entry`, replacing any entry under `key`. */
  async put(key: string, entry: CacheEntry): Promise<void> {
    checkKey(key);
    const bytes = encodeState(entry);
    this.#remove(key);
    this.#entries.set(key, bytes);
    this.#bytes += bytes.byteLength;
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest);
      this.#evictions++;
    }
  }

  /** Whether `key` holds an entry (counts neither a hit nor a miss). */
  async has(key: string): Promise<boolean> {
    checkKey(key);
    return this.#entries.has(key);
  }

  /** Removes the entry; false when there was none. */
  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.#remove(key);
  }

  /** Hits, misses, entries, bytes, corrupt reads and evictions so far. */
  async stats(): Promise<CacheStats> {
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#entries.size,
      bytes: this.#bytes,
      corrupt: this.#corrupt,
      evictions: this.#evictions,
    };
  }

  /** Drops every entry (statistics are kept). */
  async close(): Promise<void> {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /**
   * Overwrites the stored bytes of `key` (tests of corruption handling use it to play a torn
   * write). Returns false when there is no such entry.
   */
  corrupt(key: string, mutate: (bytes: Uint8Array) => Uint8Array): boolean {
    const bytes = this.#entries.get(key);
    if (bytes === undefined) return false;
    const next = mutate(bytes);
    this.#bytes += next.byteLength - bytes.byteLength;
    this.#entries.set(key, next);
    return true;
  }

  #remove(key: string): boolean {
    const bytes = this.#entries.get(key);
    if (bytes === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= bytes.byteLength;
    return true;
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') {
    throw new PhysError(
      'PHYS_USAGE',
      `Cache keys are non-empty strings, got ${key === '' ? 'an empty string' : typeof key}.`,
    );
  }
}

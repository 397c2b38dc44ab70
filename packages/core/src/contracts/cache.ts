import type { DagKeyInputs } from '../cache-keys/dag-keys.js';

/** A cached node result. @public */
export interface CacheEntry {
  readonly state: unknown;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, unknown>>;
  readonly provenance: Readonly<Record<string, unknown>>;
  /**
   * Bytes the entry takes in the cache, set by a cache's `get` when it knows (`DiskCache` does,
   * as a property that is not enumerable, so that the entry read back equals the one stored);
   * reported as the bytes a cache hit restored. `put` ignores it.
   */
  readonly size?: number;
}

/** What a cache may report of a {@link Cache.put}. @public */
export interface CachePutResult {
  /** Bytes written: 0 when the cache kept an identical entry, or did not store this one. */
  readonly size: number;
}

/** @public */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  /** Entries found torn or corrupt, moved aside, and counted as misses. */
  readonly corrupt: number;
  readonly evictions: number;
}

/**
 * Content-addressed store of node results. Entries are written atomically and verified on read:
 * a torn or corrupted entry is a miss, never an error and never wrong data.
 * @public
 */
export interface Cache {
  readonly name: string;
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores `entry`; a cache that counts what it writes resolves with a {@link CachePutResult}. */
  // biome-ignore lint/suspicious/noConfusingVoidType: caches written before CachePutResult resolve with nothing
  put(key: string, entry: CacheEntry): Promise<void | CachePutResult>;
  has(key: string): Promise<boolean>;
  delete(key: string): Promise<boolean>;
  stats(): Promise<CacheStats>;
  close?(): Promise<void>;
}

/** Options of {@link SingleFlightCache.getOrCompute}. @public */
export interface GetOrComputeOptions {
  /** Stops waiting for another process's computation (the wait rejects with `PHYS_CANCELLED`). */
  readonly signal?: AbortSignal;
}

/** What {@link SingleFlightCache.getOrCompute} returns. @public */
export interface GetOrComputeResult {
  /** The cached or computed entry. */
  readonly entry: CacheEntry;
  /** True when this call computed (and stored) the entry, false when it was a hit. */
  readonly computed: boolean;
  /**
   * Bytes written when `computed`, when the cache knows (`DiskCache` sets it, not enumerable);
   * a hit's bytes are the entry's `size`.
   */
  readonly size?: number | undefined;
}

/**
 * A cache that computes a missing entry once for concurrent callers, possibly across processes
 * and hosts (`DiskCache`, `SharedDiskCache` of `@phys/cache-disk`). The DAG executor looks keys
 * up through `getOrCompute` when the cache has it, so that runs needing the same missing key at
 * the same time compute it once between them.
 * @public
 */
export interface SingleFlightCache extends Cache {
  /**
   * The entry under `key`; on a miss, calls `compute` (unless another caller already computes
   * it, whose entry is then awaited) and stores what it returns.
   */
  getOrCompute(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    options?: GetOrComputeOptions,
  ): Promise<GetOrComputeResult>;
}

/** Whether `cache` offers single flight ({@link SingleFlightCache}). @public */
export function isSingleFlightCache(cache: Cache): cache is SingleFlightCache {
  return typeof (cache as Partial<SingleFlightCache>).getOrCompute === 'function';
}

/** One entry as a {@link MaintainableCache} lists it (what `phys cache ls` shows). @public */
export interface CacheEntryInfo {
  /** The key the entry is stored under. */
  readonly key: string;
  /** Bytes the entry takes. */
  readonly size: number;
  /** When the entry was written. */
  readonly createdAt: Date;
  /** Its last write or cache hit. */
  readonly lastUsedAt: Date;
  /** Name of the stage that produced it, when recorded. */
  readonly stage?: string;
  /** Version of that stage, when recorded. */
  readonly stageVersion?: string;
  /** The node that produced it, when recorded. */
  readonly nodeId?: string;
  /** What its key was derived from, when recorded. */
  readonly keyInputs?: DagKeyInputs;
}

/** What {@link MaintainableCache.verify} found. @public */
export interface CacheVerifyReport {
  /** Entries read. */
  readonly checked: number;
  /** Entries that passed every check. */
  readonly ok: number;
  /** Entries that failed their checks (no longer served). */
  readonly corrupt: number;
  /** Bytes of the intact entries. */
  readonly bytes: number;
}

/**
 * What {@link MaintainableCache.gc} did. A cache may report further counts (files of dead
 * writers removed, ...); `phys cache gc` shows them all.
 * @public
 */
export interface CacheGcReport {
  /** Entries evicted to get within the size limit. */
  readonly evicted: number;
  /** Bytes those entries held. */
  readonly evictedBytes: number;
  /** Entries left. */
  readonly entries: number;
  /** Bytes left. */
  readonly bytes: number;
}

/** What {@link MaintainableCache.clear} removed. @public */
export interface CacheClearReport {
  /** Entries removed. */
  readonly entries: number;
  /** Bytes they held. */
  readonly bytes: number;
}

/**
 * A cache that `phys cache ls|gc|verify|clear` can inspect and maintain (`DiskCache`,
 * `SharedDiskCache` of `@phys/cache-disk`).
 * @public
 */
export interface MaintainableCache extends Cache {
  /** Where the entries live, when the cache has a directory. */
  readonly dir?: string;
  /** Size limit in bytes (`Infinity` when unlimited), when the cache has one. */
  readonly maxBytes?: number;
  /** Every entry with its metadata. */
  list(): AsyncIterable<CacheEntryInfo>;
  /** Reads and checks every entry; damaged ones stop being served. */
  verify(): Promise<CacheVerifyReport>;
  /** Evicts down to the size limit and removes what crashed writers left behind. */
  gc(): Promise<CacheGcReport>;
  /** Removes every entry. */
  clear(): Promise<CacheClearReport>;
}

/** Whether `cache` can be maintained by `phys cache` ({@link MaintainableCache}). @public */
export function isMaintainableCache(cache: Cache): cache is MaintainableCache {
  const c = cache as Partial<MaintainableCache>;
  return (
    typeof c.list === 'function' &&
    typeof c.verify === 'function' &&
    typeof c.gc === 'function' &&
    typeof c.clear === 'function'
  );
}

import { resolve } from 'node:path';
import {
  type CacheEntry,
  type CachePutResult,
  type CacheStats,
  decodeState,
  encodeState,
  type GetOrComputeOptions,
  type GetOrComputeResult,
  type LineageRecord,
  type LineageSource,
  type MaintainableCache,
  PhysError,
  parseMemory,
  type SingleFlightCache,
  UsageError,
} from '@phys/core';
import { BackgroundSync } from './background-sync.js';
import { CacheIndex } from './cache-index.js';
import { buildEntryFile, HEAD_BYTES, metadataFor, provenanceOf, resultOf } from './entry-file.js';
import {
  clearEntries,
  collectGarbage,
  lineageOf,
  listEntries,
  type MaintainedParts,
  verifyEntries,
} from './maintenance.js';
import type { DiskCacheEntryInfo, GcOptions, GcReport, VerifyReport } from './public-types.js';
import { checkKey, fileNameOf, ShardStore } from './shard-store.js';
import type { SingleFlightLock } from './single-flight-lock.js';

/** Options of {@link DiskCache}. @public */
export interface DiskCacheOptions {
  /** The cache directory (created on first write). */
  readonly dir: string;
  /**
   * Size limit in bytes, or a size such as `'20Gi'`; the least recently used entries are
   * evicted beyond it. Default: unlimited.
   */
  readonly maxBytes?: number | string;
  /**
   * When entries reach stable storage. `'batch'` (default): `put` returns once the entry is
   * renamed into place, and written entries and their directories are fsynced in the background
   * within about a second, or on {@link DiskCache.flush} / {@link DiskCache.close}. `true`: file
   * and directory are fsynced before `put` returns. `false`: never (the OS writes back on its own).
   * Crash safety does not depend on it (see the README): only whether an entry survives a power
   * loss.
   */
  readonly fsync?: boolean | 'batch';
  /**
   * Entries up to this many bytes are read and written with synchronous system calls, which for
   * small files on a local disk is several times faster than a round trip through libuv's thread
   * pool; larger ones never block the event loop. 0 makes all I/O asynchronous (right for
   * network file systems). Default 256 KiB.
   */
  readonly syncIoMaxBytes?: number;
  /** Mode of entry files, applied regardless of the umask (default: 0o666 less the umask). */
  readonly fileMode?: number;
  /** Mode of directories the cache creates, applied regardless of the umask. */
  readonly dirMode?: number;
  /** Reported as `cache.name` (default `disk`). */
  readonly name?: string;
  /**
   * Makes {@link DiskCache.getOrCompute} single flight across processes: who computes a missing
   * key (default: none, single flight within this process only). {@link SharedDiskCache} is a
   * DiskCache with lock files here.
   */
  readonly lock?: SingleFlightLock;
}

/** The absolute cache directory of `options`, or the usage error that says what is missing. */
export function resolveCacheDir(options: Pick<DiskCacheOptions, 'dir'>): string {
  if (options === null || typeof options !== 'object' || typeof options.dir !== 'string') {
    throw new UsageError("DiskCache needs a directory: new DiskCache({ dir: '.phys/cache' }).");
  }
  if (options.dir.trim() === '') {
    throw new UsageError('DiskCache `dir` is empty; give the directory to keep entries in.');
  }
  return resolve(options.dir);
}

/**
 * A content-addressed cache of node results on the local disk.
 *
 * @remarks
 * One entry is one file, `<dir>/v1/<key[0:2]>/<key>`: a header, the key, metadata as JSON, the
 * entry encoded with `encodeState` (typed arrays as raw bytes, read back as views without a
 * copy) and a SHA-256 trailer over all of it. Entries are written to a temporary file in the
 * same directory and renamed into place, and verified on every read: a torn, truncated or
 * corrupted entry is a miss, moved to `<dir>/quarantine/` and counted in `stats().corrupt`,
 * never an error and never wrong data. With `maxBytes`, least recently used entries are evicted
 * (recency survives reopening through the files' mtimes). The files are the only source of
 * truth: the in-memory index is rebuilt from them.
 *
 * The parts: a `ShardStore` reads and writes the entry files, a `CacheIndex` keeps LRU order
 * and sizes, a `BackgroundSync` batches mtime touches and fsyncs, the maintenance passes
 * (`list`, `verify`, `gc`, `clear`) work on all three, and an optional {@link SingleFlightLock}
 * coordinates `getOrCompute` across processes.
 * @public
 */
export class DiskCache implements SingleFlightCache, MaintainableCache, LineageSource {
  /** `disk`, `shared-disk`, or the `name` option. */
  readonly name: string;
  /** Absolute cache directory. */
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean | 'batch';
  readonly #syncMax: number;
  readonly #lock: SingleFlightLock | undefined;

  readonly #store: ShardStore;
  readonly #index = new CacheIndex();
  readonly #sync = new BackgroundSync();
  readonly #parts: MaintainedParts;

  #hits = 0;
  #misses = 0;
  #corrupt = 0;

  readonly #inFlight = new Map<string, Promise<GetOrComputeResult>>();

  constructor(options: DiskCacheOptions) {
    const dir = resolveCacheDir(options);
    const fsync = options.fsync ?? 'batch';
    if (fsync !== true && fsync !== false && fsync !== 'batch') {
      throw new UsageError(
        `DiskCache \`fsync\` is true, false or 'batch', got ${JSON.stringify(fsync)}.`,
      );
    }
    const syncMax = options.syncIoMaxBytes ?? 256 * 1024;
    if (!Number.isSafeInteger(syncMax) || syncMax < 0) {
      throw new UsageError(
        `DiskCache \`syncIoMaxBytes\` is a whole number of bytes >= 0, got ${String(syncMax)}.`,
      );
    }
    for (const [option, mode] of [
      ['fileMode', options.fileMode],
      ['dirMode', options.dirMode],
    ] as const) {
      if (mode !== undefined && (!Number.isInteger(mode) || mode < 0 || mode > 0o7777)) {
        throw new UsageError(
          `DiskCache \`${option}\` is a file mode such as 0o664, got ${String(mode)}.`,
        );
      }
    }
    const lock = options.lock;
    if (lock !== undefined && typeof lock?.acquire !== 'function') {
      throw new UsageError('DiskCache `lock` is a SingleFlightLock: an object with acquire().');
    }
    this.name = options.name ?? 'disk';
    this.dir = dir;
    this.#maxBytes = parseLimit(options.maxBytes);
    this.#fsync = fsync;
    this.#syncMax = syncMax;
    this.#lock = lock;
    this.#store = new ShardStore(dir, {
      syncIoMaxBytes: syncMax,
      fsyncOnWrite: fsync === true,
      fileMode: options.fileMode,
      dirMode: options.dirMode,
    });
    this.#parts = {
      store: this.#store,
      index: this.#index,
      sync: this.#sync,
      evict: () => this.#evict(undefined),
      quarantine: (path, name, ino) => this.#quarantine(path, name, ino),
    };
  }

  /** Size limit in bytes (`Infinity` when unlimited). */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Path of the file that holds (or would hold) `key`. */
  pathOf(key: string): string {
    checkKey(key);
    return this.#store.pathOf(fileNameOf(key));
  }

  /**
   * The entry under `key`, verified, with `size` (not enumerable) the bytes of its file;
   * undefined on a miss (absent, torn or corrupt).
   */
  async get(key: string): Promise<CacheEntry | undefined> {
    checkKey(key);
    const name = fileNameOf(key);
    const { path } = this.#store.locate(name);
    const read = await this.#store.read(path, name, key);
    if (read.kind === 'miss') {
      this.#misses++;
      return undefined;
    }
    if (read.kind === 'corrupt') {
      await this.#quarantine(path, name, read.ino);
      this.#misses++;
      return undefined;
    }
    let decoded: unknown;
    let provenance: unknown;
    try {
      decoded = decodeState(resultOf(read.buf, read.layout));
      provenance = decodeState(provenanceOf(read.buf, read.layout));
    } catch (error) {
      if (PhysError.is(error) && error.code === 'PHYS_STATE_CORRUPT') {
        await this.#quarantine(path, name, undefined);
      }
      // Otherwise intact but not decodable here (a class codec this process lacks): a miss.
      this.#misses++;
      return undefined;
    }
    if (
      !isRecord(decoded) ||
      !('state' in decoded) ||
      !isRecord(decoded.metrics) ||
      !isRecord(provenance)
    ) {
      await this.#quarantine(path, name, undefined);
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#index.used(name, read.layout.total);
    this.#sync.touched(path);
    const entry = { ...decoded, provenance } as unknown as CacheEntry;
    // Not enumerable: the entry read back still equals (and spreads as) the entry stored.
    Object.defineProperty(entry, 'size', { value: read.layout.total, enumerable: false });
    return entry;
  }

  /**
   * Stores `entry` under `key`, replacing any entry there; resolves once it is in place (and,
   * with `fsync: true`, on stable storage). An intact small entry that already holds the same
   * result (state, metrics, artifacts) is kept as it is, provenance included. An entry larger
   * than `maxBytes` is not stored. Resolves with the bytes written (0 for those two).
   */
  async put(key: string, entry: CacheEntry): Promise<CachePutResult> {
    checkKey(key);
    checkEntry(entry);
    const stored: Record<string, unknown> = { state: entry.state, metrics: entry.metrics };
    if (entry.artifacts !== undefined) stored.artifacts = entry.artifacts;
    const result = encodeState(stored);
    const provenance = encodeState(entry.provenance ?? {});
    const meta = Buffer.from(JSON.stringify(metadataFor(entry)));
    const keyBytes = Buffer.from(key);
    const name = fileNameOf(key);
    const { shardDir, path } = this.#store.locate(name);
    if (this.#maxBytes !== Number.POSITIVE_INFINITY) await this.#loadIndex();
    const estimate =
      HEAD_BYTES + keyBytes.length + meta.length + result.byteLength + provenance.byteLength + 48;
    if (estimate > this.#maxBytes) return { size: 0 };
    let total = 0;
    if (estimate <= this.#syncMax && this.#fsync !== true) {
      const file = buildEntryFile(keyBytes, meta, result, provenance);
      if (this.#store.holdsSameResult(path, file)) {
        // Identical work stored again (nodes that share a key, each with its own provenance):
        // the entry already holds this result, and replacing a file by rename is costly (ext4
        // forces the new file's writeback). The first writer's provenance and metadata stay.
        this.#index.used(name, file.length);
        this.#sync.touched(path);
        return { size: 0 };
      }
      // False when the process is out of descriptors: then the asynchronous write waits for one.
      if (this.#store.writeSync(shardDir, path, name, file)) total = file.length;
    }
    if (total === 0) {
      total = await this.#store.writeAsync(
        shardDir,
        path,
        name,
        keyBytes,
        meta,
        result,
        provenance,
      );
    }
    if (this.#fsync === 'batch') this.#sync.written(path, shardDir);
    this.#index.used(name, total);
    await this.#evict(name);
    return { size: total };
  }

  /** Whether an entry file exists for `key` (not verified: `get` may still find it corrupt). */
  async has(key: string): Promise<boolean> {
    return this.#store.exists(this.pathOf(key));
  }

  /** Removes the entry under `key`; false when there was none. */
  async delete(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    const removed = await this.#store.unlink(path);
    this.#index.forget(fileNameOf(key));
    return removed;
  }

  /**
   * Hits, misses, corrupt reads and evictions of this instance; entries and bytes on disk as
   * of the last scan (the first call scans the directory) plus this instance's own changes.
   */
  async stats(): Promise<CacheStats> {
    await this.#loadIndex();
    return {
      hits: this.#hits,
      misses: this.#misses,
      entries: this.#index.entries,
      bytes: this.#index.bytes,
      corrupt: this.#corrupt,
      evictions: this.#index.evictions,
    };
  }

  /**
   * Single flight: concurrent calls for one missing key share one `compute`, whose entry is
   * stored; with a `lock` ({@link SharedDiskCache}), also across processes and hosts.
   */
  getOrCompute(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    options: GetOrComputeOptions = {},
  ): Promise<GetOrComputeResult> {
    checkKey(key);
    const running = this.#inFlight.get(key);
    if (running !== undefined) {
      return running.then((r) => ({ entry: r.entry, computed: false }));
    }
    const promise = this.#computeOnce(key, compute, options).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, promise);
    return promise;
  }

  /** One {@link DiskCache.getOrCompute} of this process for `key`. */
  async #computeOnce(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    options: GetOrComputeOptions,
  ): Promise<GetOrComputeResult> {
    const hit = await this.get(key);
    if (hit !== undefined) return { entry: hit, computed: false };
    if (this.#lock === undefined) {
      const entry = await compute();
      return computed(entry, await this.put(key, entry));
    }
    const lock = await this.#lock.acquire(key, () => this.#published(key), options.signal);
    if (!lock.locked) return { entry: lock.entry, computed: false };
    try {
      // The previous holder may have published and released between our miss and our lock.
      const published = await this.#published(key);
      if (published !== undefined) return { entry: published, computed: false };
      const entry = await compute();
      return computed(entry, await this.put(key, entry));
    } finally {
      await lock.release();
    }
  }

  /** The entry of `key` if one has been published (a cheap existence check first). */
  async #published(key: string): Promise<CacheEntry | undefined> {
    return (await this.has(key)) ? this.get(key) : undefined;
  }

  /**
   * Every entry with its metadata, read from the files' headers (payloads are neither read nor
   * verified: use {@link DiskCache.verify} for that). Unreadable files are skipped.
   */
  list(): AsyncGenerator<DiskCacheEntryInfo> {
    return listEntries(this.#store);
  }

  /** The newest entry of every node id that wrote one (what `phys plan` compares keys with). */
  lineage(): Promise<Map<string, LineageRecord>> {
    return lineageOf(this.list());
  }

  /** Reads and checks every entry; bad ones are quarantined. Also refreshes the index. */
  verify(): Promise<VerifyReport> {
    return verifyEntries(this.#parts);
  }

  /**
   * Evicts down to `maxBytes`, removes temporary files left by writers that died and old
   * quarantined entries (and what the `lock` left behind), and refreshes the index from the
   * directory.
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    const report = await collectGarbage(this.#parts, options);
    if (this.#lock?.gc === undefined) return report;
    const removed = await this.#lock.gc(options);
    return { ...report, tempFilesRemoved: report.tempFilesRemoved + removed };
  }

  /** Removes every entry, temporary file and quarantined file; returns how many entries went. */
  clear(): Promise<{ readonly entries: number; readonly bytes: number }> {
    return clearEntries(this.#parts);
  }

  /** Performs pending background work now: mtime touches of hits, and batched fsyncs. */
  flush(): Promise<void> {
    return this.#sync.flush();
  }

  /** Flushes pending background work. The cache stays usable. */
  async close(): Promise<void> {
    await this.flush();
  }

  /** Loads the index from the directory once (concurrent callers share the scan). */
  #loadIndex(): Promise<void> {
    return this.#index.load(async () => (await this.#store.scan()).entries);
  }

  /** Evicts least recently used entries until within `maxBytes` (never `keep`). */
  #evict(keep: string | undefined): Promise<void> {
    return this.#index.evict(this.#maxBytes, keep, async (name) => {
      const { path } = this.#store.locate(name);
      const removed = await this.#store.unlink(path);
      this.#sync.drop(path);
      return removed;
    });
  }

  /** Counts a bad entry and moves it aside (see {@link ShardStore.quarantine}). */
  async #quarantine(path: string, name: string, ino: number | undefined): Promise<void> {
    this.#corrupt++;
    this.#index.forget(name);
    await this.#store.quarantine(path, name, ino);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What getOrCompute returns for an entry this call computed and stored: `size` (the bytes
 * written) is not enumerable, as on entries read back (whose own `size` says what a hit read).
 */
function computed(entry: CacheEntry, put: CachePutResult): GetOrComputeResult {
  const result = { entry, computed: true };
  Object.defineProperty(result, 'size', { value: put.size, enumerable: false });
  return result;
}

function checkEntry(entry: CacheEntry): void {
  if (!isRecord(entry) || !('state' in entry) || !isRecord(entry.metrics)) {
    throw new UsageError(
      'DiskCache.put() takes a CacheEntry { state, metrics, provenance, artifacts? }.',
    );
  }
}

function parseLimit(maxBytes: number | string | undefined): number {
  if (maxBytes === undefined) return Number.POSITIVE_INFINITY;
  try {
    return parseMemory(maxBytes);
  } catch (error) {
    throw new UsageError(`DiskCache \`maxBytes\`: ${(error as Error).message}`, { cause: error });
  }
}

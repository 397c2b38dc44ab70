import { randomBytes, hash as sha } from 'node:crypto';
import fs from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type Cache,
  type CacheEntry,
  type CacheStats,
  decodeState,
  encodeState,
  PhysError,
  parseMemory,
  UsageError,
} from '@phys/core';
import { type DagKeyInputs, KEY_INPUTS_FIELD } from './dag-keys.js';
import {
  buildEntryFile,
  buildEntryParts,
  checksumMatches,
  type EntryLayout,
  type EntryMetadata,
  HEAD_BYTES,
  keyBytesOf,
  keyOf,
  MAX_KEY_BYTES,
  metadataOf,
  parseLayout,
  provenanceOf,
  resultOf,
} from './entry-file.js';
import {
  closeAsync,
  ensureDir,
  ensureDirSync,
  fchmodAsync,
  fstatAsync,
  fsyncAsync,
  ioError,
  isMissing,
  openAsync,
  readFullyAsync,
  readFullySync,
  writeFullyAsync,
  writeFullySync,
} from './fs-util.js';
import type { LineageRecord } from './plan.js';

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
}

/** One entry as {@link DiskCache.list} reports it. @public */
export interface DiskCacheEntryInfo extends Omit<EntryMetadata, 'createdAt'> {
  /** The key the entry is stored under. */
  readonly key: string;
  /** Size of the entry file in bytes. */
  readonly size: number;
  /** When the entry was written. */
  readonly createdAt: Date;
  /** Last write or cache hit (the file's mtime). */
  readonly lastUsedAt: Date;
}

/** What {@link DiskCache.verify} found. @public */
export interface VerifyReport {
  /** Entries read. */
  readonly checked: number;
  /** Entries that passed every check. */
  readonly ok: number;
  /** Entries that failed their checks; each was moved to `<dir>/quarantine/`. */
  readonly corrupt: number;
  /** Bytes of the intact entries. */
  readonly bytes: number;
}

/** Options of {@link DiskCache.gc}. @public */
export interface GcOptions {
  /** Remove temporary files of writers that died, once older than this (default 30 minutes). */
  readonly tempMaxAgeMs?: number;
  /** Remove quarantined entries older than this (default 7 days). */
  readonly quarantineMaxAgeMs?: number;
}

/** What {@link DiskCache.gc} removed. @public */
export interface GcReport {
  /** Entries evicted to get within `maxBytes`. */
  readonly evicted: number;
  /** Bytes those entries held. */
  readonly evictedBytes: number;
  /** Temporary files of dead writers removed (and, for a shared cache, abandoned locks). */
  readonly tempFilesRemoved: number;
  /** Quarantined files removed. */
  readonly quarantineRemoved: number;
  /** Entries left. */
  readonly entries: number;
  /** Bytes left. */
  readonly bytes: number;
}

/** What {@link DiskCache.getOrCompute} returns. @public */
export interface GetOrComputeResult {
  /** The cached or computed entry. */
  readonly entry: CacheEntry;
  /** True when this call computed (and stored) the entry, false when it was a hit. */
  readonly computed: boolean;
}

/** Options of {@link DiskCache.getOrCompute}. @public */
export interface GetOrComputeOptions {
  /** Stops waiting for another process's computation (the wait rejects with `PHYS_CANCELLED`). */
  readonly signal?: AbortSignal;
}

type ReadOutcome =
  | { readonly kind: 'miss' }
  | { readonly kind: 'ok'; readonly buf: Buffer; readonly layout: EntryLayout }
  | { readonly kind: 'corrupt'; readonly ino: number | undefined; readonly why: string };

interface ScannedFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

interface Scan {
  readonly entries: ScannedFile[];
  readonly temps: ScannedFile[];
}

const LAYOUT_DIR = 'v1';
const QUARANTINE_DIR = 'quarantine';
const FIRST_READ = 64 * 1024;
const WRITE_CHUNK = 16 * 1024 * 1024;
const BATCH_DELAY_MS = 1000;
const STAT_CONCURRENCY = 32;
const DEFAULT_TEMP_MAX_AGE_MS = 30 * 60_000;
const DEFAULT_QUARANTINE_MAX_AGE_MS = 7 * 24 * 3_600_000;
const HEX_KEY = /^[0-9a-f]{16,128}$/;
const ENTRY_NAME = /^(?:[0-9a-f]{16,128}|~[0-9a-f]{64})$/;

// Shared by every synchronous read: it is filled and copied out without yielding in between.
const scratch = Buffer.allocUnsafeSlow(FIRST_READ);
// Distinguishes temporary files of concurrent writers, also across hosts sharing a directory.
export const WRITER_TOKEN = randomBytes(6).toString('hex');
let tempCounter = 0;

/** A name no other writer uses: this process's token and a counter. */
export function uniqueSuffix(): string {
  return `${WRITER_TOKEN}${++tempCounter}`;
}

/** On-disk file name of a key: hex keys as they are, anything else by its SHA-256. */
export function fileNameOf(key: string): string {
  return HEX_KEY.test(key) ? key : `~${sha('sha256', key, 'hex')}`;
}

function shardOf(name: string): string {
  return name.charCodeAt(0) === 0x7e ? name.slice(1, 3) : name.slice(0, 2);
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new UsageError(
      `Cache keys are non-empty strings of at most ${MAX_KEY_BYTES} UTF-8 bytes, got ${typeof key === 'string' ? (key === '' ? 'an empty string' : `${Buffer.byteLength(key)} bytes`) : typeof key}.`,
    );
  }
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isKeyInputs(value: unknown): value is DagKeyInputs {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.formatVersion === 'string' &&
    typeof v.stageName === 'string' &&
    typeof v.stageVersion === 'string' &&
    typeof v.configHash === 'string'
  );
}

function metadataFor(entry: CacheEntry): EntryMetadata {
  const p = (entry.provenance ?? {}) as Record<string, unknown>;
  const stage = str(p.stage);
  const stageVersion = str(p.version) ?? str(p.stageVersion);
  const nodeId = str(p.node) ?? str(p.nodeId);
  const keyInputs = p[KEY_INPUTS_FIELD];
  return {
    createdAt: Date.now(),
    ...(stage === undefined ? {} : { stage }),
    ...(stageVersion === undefined ? {} : { stageVersion }),
    ...(nodeId === undefined ? {} : { nodeId }),
    ...(isKeyInputs(keyInputs) ? { keyInputs } : {}),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkEntry(entry: CacheEntry): void {
  if (!isRecord(entry) || !('state' in entry) || !isRecord(entry.metrics)) {
    throw new UsageError(
      'DiskCache.put() takes a CacheEntry { state, metrics, provenance, artifacts? }.',
    );
  }
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
 * @public
 */
export class DiskCache implements Cache {
  /** `disk`, `shared-disk`, or the `name` option. */
  readonly name: string;
  /** Absolute cache directory. */
  readonly dir: string;
  readonly #root: string;
  readonly #quarantineDir: string;
  readonly #maxBytes: number;
  readonly #fsync: boolean | 'batch';
  readonly #syncMax: number;
  readonly #fileMode: number | undefined;
  readonly #dirMode: number | undefined;

  // LRU index: file name -> size; Map order is recency (first = least recently used).
  #index = new Map<string, number>();
  #indexBytes = 0;
  #indexLoaded = false;
  #indexLoading: Promise<void> | undefined;
  #deletedWhileLoading: Set<string> | undefined;
  readonly #shards = new Set<string>();

  #hits = 0;
  #misses = 0;
  #corrupt = 0;
  #evictions = 0;

  // Background work, flushed together: mtime touches of hits, and fsyncs in 'batch' mode.
  #touches = new Set<string>();
  #dirtyFiles = new Set<string>();
  #dirtyDirs = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  readonly #inFlight = new Map<string, Promise<GetOrComputeResult>>();

  constructor(options: DiskCacheOptions) {
    if (options === null || typeof options !== 'object' || typeof options.dir !== 'string') {
      throw new UsageError("DiskCache needs a directory: new DiskCache({ dir: '.phys/cache' }).");
    }
    if (options.dir.trim() === '') {
      throw new UsageError('DiskCache `dir` is empty; give the directory to keep entries in.');
    }
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
    this.name = options.name ?? 'disk';
    this.dir = resolve(options.dir);
    this.#root = join(this.dir, LAYOUT_DIR);
    this.#quarantineDir = join(this.dir, QUARANTINE_DIR);
    this.#maxBytes = parseLimit(options.maxBytes);
    this.#fsync = fsync;
    this.#syncMax = syncMax;
    this.#fileMode = options.fileMode;
    this.#dirMode = options.dirMode;
  }

  /** Size limit in bytes (`Infinity` when unlimited). */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Path of the file that holds (or would hold) `key`. */
  pathOf(key: string): string {
    checkKey(key);
    const name = fileNameOf(key);
    return join(this.#root, shardOf(name), name);
  }

  /** The entry under `key`, verified; undefined on a miss (absent, torn or corrupt). */
  async get(key: string): Promise<CacheEntry | undefined> {
    checkKey(key);
    const name = fileNameOf(key);
    const path = `${this.#root}/${shardOf(name)}/${name}`;
    const read = await this.#read(path, name, key);
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
    this.#used(name, read.layout.total);
    this.#touches.add(path);
    this.#schedule();
    return { ...decoded, provenance } as unknown as CacheEntry;
  }

  /**
   * Stores `entry` under `key`, replacing any entry there; resolves once it is in place (and,
   * with `fsync: true`, on stable storage). An intact small entry that already holds the same
   * result (state, metrics, artifacts) is kept as it is, provenance included. An entry larger
   * than `maxBytes` is not stored.
   */
  async put(key: string, entry: CacheEntry): Promise<void> {
    checkKey(key);
    checkEntry(entry);
    const stored: Record<string, unknown> = { state: entry.state, metrics: entry.metrics };
    if (entry.artifacts !== undefined) stored.artifacts = entry.artifacts;
    const result = encodeState(stored);
    const provenance = encodeState(entry.provenance ?? {});
    const meta = Buffer.from(JSON.stringify(metadataFor(entry)));
    const keyBytes = Buffer.from(key);
    const name = fileNameOf(key);
    const shard = shardOf(name);
    const shardDir = `${this.#root}/${shard}`;
    const path = `${shardDir}/${name}`;
    if (this.#maxBytes !== Number.POSITIVE_INFINITY) await this.#loadIndex();
    const estimate =
      HEAD_BYTES + keyBytes.length + meta.length + result.byteLength + provenance.byteLength + 48;
    if (estimate > this.#maxBytes) return;
    let total: number;
    if (estimate <= this.#syncMax && this.#fsync !== true) {
      const file = buildEntryFile(keyBytes, meta, result, provenance);
      if (holdsSameResult(path, file)) {
        // Identical work stored again (nodes that share a key, each with its own provenance):
        // the entry already holds this result, and replacing a file by rename is costly (ext4
        // forces the new file's writeback). The first writer's provenance and metadata stay.
        this.#used(name, file.length);
        this.#touches.add(path);
        this.#schedule();
        return;
      }
      this.#writeSync(shardDir, path, name, file);
      total = file.length;
    } else {
      total = await this.#writeAsync(shardDir, path, name, keyBytes, meta, result, provenance);
    }
    if (this.#fsync === 'batch') {
      this.#dirtyFiles.add(path);
      this.#dirtyDirs.add(shardDir);
      this.#schedule();
    }
    this.#used(name, total);
    await this.#evict(name);
  }

  /** Whether an entry file exists for `key` (not verified: `get` may still find it corrupt). */
  async has(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    if (this.#syncMax > 0) return fs.existsSync(path);
    try {
      await fs.promises.access(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Removes the entry under `key`; false when there was none. */
  async delete(key: string): Promise<boolean> {
    const path = this.pathOf(key);
    const name = fileNameOf(key);
    const removed = await this.#unlink(path);
    this.#forget(name);
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
      entries: this.#index.size,
      bytes: this.#indexBytes,
      corrupt: this.#corrupt,
      evictions: this.#evictions,
    };
  }

  /**
   * In-process single flight: concurrent calls for one missing key share one `compute`, whose
   * entry is stored. {@link SharedDiskCache} extends this across processes and hosts.
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
    const promise = this.computeOnce(key, compute, options).finally(() => {
      this.#inFlight.delete(key);
    });
    this.#inFlight.set(key, promise);
    return promise;
  }

  /**
   * What one {@link DiskCache.getOrCompute} call does once other calls in this process for the
   * same key are deduplicated. Subclasses add cross-process coordination here.
   */
  protected async computeOnce(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    _options: GetOrComputeOptions,
  ): Promise<GetOrComputeResult> {
    const hit = await this.get(key);
    if (hit !== undefined) return { entry: hit, computed: false };
    const entry = await compute();
    await this.put(key, entry);
    return { entry, computed: true };
  }

  /**
   * Every entry with its metadata, read from the files' headers (payloads are neither read nor
   * verified: use {@link DiskCache.verify} for that). Unreadable files are skipped.
   */
  async *list(): AsyncGenerator<DiskCacheEntryInfo> {
    for await (const { shardDir, names } of this.#shardListings()) {
      names.sort();
      for (const name of names) {
        if (!ENTRY_NAME.test(name)) continue;
        const info = await this.#describe(`${shardDir}/${name}`, name);
        if (info !== undefined) yield info;
      }
    }
  }

  /** The newest entry of every node id that wrote one (what `phys plan` compares keys with). */
  async lineage(): Promise<Map<string, LineageRecord>> {
    const newest = new Map<string, LineageRecord>();
    for await (const info of this.list()) {
      if (info.nodeId === undefined) continue;
      const seen = newest.get(info.nodeId);
      if (seen !== undefined && seen.createdAt.getTime() > info.createdAt.getTime()) continue;
      newest.set(info.nodeId, {
        key: info.key,
        createdAt: info.createdAt,
        ...(info.stage === undefined ? {} : { stage: info.stage }),
        ...(info.keyInputs === undefined ? {} : { keyInputs: info.keyInputs }),
      });
    }
    return newest;
  }

  /** Reads and checks every entry; bad ones are quarantined. Also refreshes the index. */
  async verify(): Promise<VerifyReport> {
    const scan = await this.#scan();
    let ok = 0;
    let bytes = 0;
    let corrupt = 0;
    const good: ScannedFile[] = [];
    for (const file of scan.entries) {
      const read = await this.#read(file.path, file.name, undefined, true);
      if (read.kind === 'miss') continue;
      if (read.kind === 'corrupt') {
        corrupt++;
        await this.#quarantine(file.path, file.name, read.ino);
        continue;
      }
      ok++;
      bytes += read.layout.total;
      good.push(file);
    }
    this.#rebuild(good);
    return { checked: ok + corrupt, ok, corrupt, bytes };
  }

  /**
   * Evicts down to `maxBytes`, removes temporary files left by writers that died and old
   * quarantined entries, and refreshes the index from the directory.
   */
  async gc(options: GcOptions = {}): Promise<GcReport> {
    const tempMaxAge = options.tempMaxAgeMs ?? DEFAULT_TEMP_MAX_AGE_MS;
    const quarantineMaxAge = options.quarantineMaxAgeMs ?? DEFAULT_QUARANTINE_MAX_AGE_MS;
    const scan = await this.#scan();
    this.#rebuild(scan.entries);
    const before = { evictions: this.#evictions, bytes: this.#indexBytes };
    await this.#evict(undefined);
    const now = Date.now();
    let tempFilesRemoved = 0;
    for (const temp of scan.temps) {
      if (now - temp.mtimeMs >= tempMaxAge && (await this.#unlink(temp.path))) tempFilesRemoved++;
    }
    let quarantineRemoved = 0;
    for (const file of await this.#quarantined()) {
      if (now - file.mtimeMs >= quarantineMaxAge && (await this.#unlink(file.path))) {
        quarantineRemoved++;
      }
    }
    return {
      evicted: this.#evictions - before.evictions,
      evictedBytes: before.bytes - this.#indexBytes,
      tempFilesRemoved,
      quarantineRemoved,
      entries: this.#index.size,
      bytes: this.#indexBytes,
    };
  }

  /** Removes every entry, temporary file and quarantined file; returns how many entries went. */
  async clear(): Promise<{ readonly entries: number; readonly bytes: number }> {
    const scan = await this.#scan();
    let entries = 0;
    let bytes = 0;
    for (const file of scan.entries) {
      if (await this.#unlink(file.path)) {
        entries++;
        bytes += file.size;
      }
    }
    for (const temp of scan.temps) await this.#unlink(temp.path);
    for (const file of await this.#quarantined()) await this.#unlink(file.path);
    this.#rebuild([]);
    this.#touches.clear();
    this.#dirtyFiles.clear();
    return { entries, bytes };
  }

  /** Performs pending background work now: mtime touches of hits, and batched fsyncs. */
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
      await inBatches([...touches], (path) => fs.promises.utimes(path, now, now));
      await inBatches([...files], fsyncPath);
      await inBatches([...dirs], fsyncPath);
    })();
    await this.#flushing;
  }

  /** Flushes pending background work. The cache stays usable. */
  async close(): Promise<void> {
    await this.flush();
  }

  // ---- reading --------------------------------------------------------------------------------

  async #read(
    path: string,
    name: string,
    key: string | undefined,
    forceAsync = false,
  ): Promise<ReadOutcome> {
    const sync = this.#syncMax > 0 && !forceAsync;
    let fd: number;
    try {
      fd = sync ? fs.openSync(path, 'r') : await openAsync(path, 'r');
    } catch (error) {
      if (isMissing(error)) return { kind: 'miss' };
      throw ioError('open cache entry', path, error);
    }
    let outcome: ReadOutcome;
    try {
      outcome = sync
        ? await this.#readOpenSync(fd)
        : await readOpen(fd, Buffer.allocUnsafe(FIRST_READ));
      if (outcome.kind === 'ok') {
        const { buf, layout } = outcome;
        const stored = keyOf(buf, layout);
        const matches = key === undefined ? fileNameOf(stored) === name : stored === key;
        if (!matches) outcome = { kind: 'corrupt', ino: undefined, why: 'key mismatch' };
        else if (!checksumMatches(buf, layout)) {
          outcome = { kind: 'corrupt', ino: undefined, why: 'checksum mismatch' };
        }
      }
      if (outcome.kind === 'corrupt') {
        const st = sync ? fs.fstatSync(fd) : await fstatAsync(fd);
        outcome = { kind: 'corrupt', ino: st.ino, why: outcome.why };
      }
    } catch (error) {
      closeQuietly(fd, sync);
      throw ioError('read cache entry', path, error);
    }
    closeQuietly(fd, sync);
    return outcome;
  }

  async #readOpenSync(fd: number): Promise<ReadOutcome> {
    const n = readFullySync(fd, scratch, 0, FIRST_READ, 0);
    const layout = parseLayout(scratch.subarray(0, n));
    if (layout === undefined) return { kind: 'corrupt', ino: undefined, why: 'bad header' };
    if (layout.total <= n) {
      if (n > layout.total) return { kind: 'corrupt', ino: undefined, why: 'trailing bytes' };
      // A fresh, exactly sized buffer: 8-aligned, so the payload's typed arrays decode as views.
      const buf = Buffer.allocUnsafeSlow(layout.total);
      scratch.copy(buf, 0, 0, n);
      return { kind: 'ok', buf, layout };
    }
    if (n < FIRST_READ) return { kind: 'corrupt', ino: undefined, why: 'truncated' };
    const buf = Buffer.allocUnsafeSlow(layout.total);
    scratch.copy(buf, 0, 0, n);
    return readRest(fd, buf, layout, n, layout.total <= this.#syncMax);
  }

  async #describe(path: string, name: string): Promise<DiskCacheEntryInfo | undefined> {
    let fd: number;
    try {
      fd = await openAsync(path, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw ioError('open cache entry', path, error);
    }
    try {
      const st = await fstatAsync(fd);
      let head = Buffer.allocUnsafe(Math.min(4096, st.size));
      let n = await readFullyAsync(fd, head, 0, head.length, 0);
      const layout = parseLayout(head.subarray(0, n));
      if (layout === undefined || layout.total !== st.size) return undefined;
      if (layout.resultOffset > n) {
        head = Buffer.allocUnsafe(layout.resultOffset);
        n = await readFullyAsync(fd, head, 0, head.length, 0);
        if (n < layout.resultOffset) return undefined;
      }
      const key = keyOf(head, layout);
      if (fileNameOf(key) !== name) return undefined;
      const meta = metadataOf(head, layout);
      if (meta === undefined) return undefined;
      return {
        key,
        size: st.size,
        createdAt: new Date(meta.createdAt),
        lastUsedAt: st.mtime,
        ...(str(meta.stage) === undefined ? {} : { stage: meta.stage }),
        ...(str(meta.stageVersion) === undefined ? {} : { stageVersion: meta.stageVersion }),
        ...(str(meta.nodeId) === undefined ? {} : { nodeId: meta.nodeId }),
        ...(isKeyInputs(meta.keyInputs) ? { keyInputs: meta.keyInputs } : {}),
      };
    } catch (error) {
      throw ioError('read cache entry', path, error);
    } finally {
      closeQuietly(fd, false);
    }
  }

  /** Moves a bad entry aside, unless the path now holds a different file (a fresh write). */
  async #quarantine(path: string, name: string, ino: number | undefined): Promise<void> {
    this.#corrupt++;
    this.#forget(name);
    try {
      if (ino !== undefined && (await fs.promises.stat(path)).ino !== ino) return;
      await ensureDir(this.#quarantineDir, this.#dirMode);
      const aside = `${this.#quarantineDir}/${name}.${Date.now()}.${uniqueSuffix()}`;
      await fs.promises.rename(path, aside);
    } catch (error) {
      if (isMissing(error)) return;
      // Cannot move it (permissions): leave it, every read stays a miss.
    }
  }

  // ---- writing --------------------------------------------------------------------------------

  #tempPath(shardDir: string, name: string): string {
    return `${shardDir}/.${name}.${uniqueSuffix()}.tmp`;
  }

  #writeSync(shardDir: string, path: string, name: string, file: Buffer): void {
    if (!this.#shards.has(shardDir)) {
      this.#mkdirSync(shardDir);
    }
    const tmp = this.#tempPath(shardDir, name);
    const mode = this.#fileMode ?? 0o666;
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'wx', mode);
    } catch (error) {
      if (!isMissing(error)) throw ioError('create', tmp, error);
      // The shard directory went away (cleared by another process): make it again.
      this.#shards.delete(shardDir);
      this.#mkdirSync(shardDir);
      try {
        fd = fs.openSync(tmp, 'wx', mode);
      } catch (again) {
        throw ioError('create', tmp, again);
      }
    }
    try {
      if (this.#fileMode !== undefined) fs.fchmodSync(fd, this.#fileMode);
      writeFullySync(fd, file, 0);
      fs.closeSync(fd);
      fs.renameSync(tmp, path);
    } catch (error) {
      closeQuietly(fd, true);
      try {
        fs.unlinkSync(tmp);
      } catch {}
      throw ioError('write cache entry', path, error);
    }
  }

  #mkdirSync(shardDir: string): void {
    try {
      ensureDirSync(shardDir, this.#dirMode);
    } catch (error) {
      throw ioError('create directory', shardDir, error);
    }
    this.#shards.add(shardDir);
  }

  async #mkdir(shardDir: string): Promise<void> {
    try {
      await ensureDir(shardDir, this.#dirMode);
    } catch (error) {
      throw ioError('create directory', shardDir, error);
    }
    this.#shards.add(shardDir);
  }

  async #writeAsync(
    shardDir: string,
    path: string,
    name: string,
    key: Buffer,
    meta: Buffer,
    result: Uint8Array,
    provenance: Uint8Array,
  ): Promise<number> {
    const { head, gap, trailer, total } = buildEntryParts(key, meta, result, provenance);
    if (!this.#shards.has(shardDir)) await this.#mkdir(shardDir);
    const tmp = this.#tempPath(shardDir, name);
    const mode = this.#fileMode ?? 0o666;
    let fd: number;
    try {
      fd = await openAsync(tmp, 'wx', mode);
    } catch (error) {
      if (!isMissing(error)) throw ioError('create', tmp, error);
      this.#shards.delete(shardDir);
      await this.#mkdir(shardDir);
      try {
        fd = await openAsync(tmp, 'wx', mode);
      } catch (again) {
        throw ioError('create', tmp, again);
      }
    }
    try {
      if (this.#fileMode !== undefined) await fchmodAsync(fd, this.#fileMode);
      let at = 0;
      // In slices, so a big entry does not hold one thread-pool thread for its whole size.
      for (const part of [head, result, gap, provenance, trailer]) {
        for (let off = 0; off < part.byteLength; off += WRITE_CHUNK) {
          const slice = part.subarray(off, Math.min(part.byteLength, off + WRITE_CHUNK));
          await writeFullyAsync(fd, slice, at);
          at += slice.byteLength;
        }
      }
      if (this.#fsync === true) await fsyncAsync(fd);
      await closeAsync(fd);
    } catch (error) {
      closeQuietly(fd, false);
      await fs.promises.unlink(tmp).catch(() => {});
      throw ioError('write cache entry', path, error);
    }
    try {
      await fs.promises.rename(tmp, path);
      if (this.#fsync === true) await fsyncPath(shardDir);
    } catch (error) {
      await fs.promises.unlink(tmp).catch(() => {});
      throw ioError('publish cache entry', path, error);
    }
    return total;
  }

  async #unlink(path: string): Promise<boolean> {
    try {
      if (this.#syncMax > 0) fs.unlinkSync(path);
      else await fs.promises.unlink(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw ioError('remove', path, error);
    }
  }

  // ---- index and eviction ----------------------------------------------------------------------

  /** Records a use of `name` (a hit or a write): it becomes the most recently used. */
  #used(name: string, size: number): void {
    const old = this.#index.get(name);
    if (old !== undefined) {
      this.#index.delete(name);
      this.#indexBytes -= old;
    }
    this.#index.set(name, size);
    this.#indexBytes += size;
  }

  #forget(name: string): void {
    const old = this.#index.get(name);
    if (old !== undefined) {
      this.#index.delete(name);
      this.#indexBytes -= old;
    }
    this.#deletedWhileLoading?.add(name);
  }

  /** Evicts least recently used entries until within `maxBytes` (never `keep`). O(1) each. */
  async #evict(keep: string | undefined): Promise<void> {
    if (this.#indexBytes <= this.#maxBytes) return;
    for (const [name, size] of this.#index) {
      if (this.#indexBytes <= this.#maxBytes) break;
      if (name === keep) continue;
      this.#index.delete(name);
      this.#indexBytes -= size;
      const path = `${this.#root}/${shardOf(name)}/${name}`;
      if (await this.#unlink(path)) this.#evictions++;
      this.#touches.delete(path);
      this.#dirtyFiles.delete(path);
    }
  }

  /** Loads the index from the directory once (concurrent callers share the scan). */
  #loadIndex(): Promise<void> {
    if (this.#indexLoaded) return Promise.resolve();
    if (this.#indexLoading === undefined) {
      this.#deletedWhileLoading = new Set();
      this.#indexLoading = this.#scan()
        .then((scan) => {
          const deleted = this.#deletedWhileLoading as Set<string>;
          this.#rebuild(
            scan.entries.filter((f) => !deleted.has(f.name)),
            true,
          );
          this.#indexLoaded = true;
        })
        .finally(() => {
          this.#indexLoading = undefined;
          this.#deletedWhileLoading = undefined;
        });
    }
    return this.#indexLoading;
  }

  /**
   * Replaces the index with `files`, least recently modified first, then the entries this
   * instance used since (in their order). With `keepUnscanned`, used entries the scan missed
   * (written while it ran) stay; otherwise the scan is the whole truth.
   */
  #rebuild(files: ScannedFile[], keepUnscanned = false): void {
    const sorted = [...files].sort((a, b) => a.mtimeMs - b.mtimeMs);
    const onDisk = new Map<string, number>();
    for (const f of sorted) onDisk.set(f.name, f.size);
    const next = new Map<string, number>();
    for (const [name, size] of onDisk) if (!this.#index.has(name)) next.set(name, size);
    for (const [name, size] of this.#index) {
      const disk = onDisk.get(name);
      if (disk !== undefined) next.set(name, disk);
      else if (keepUnscanned) next.set(name, size);
    }
    let bytes = 0;
    for (const size of next.values()) bytes += size;
    this.#index = next;
    this.#indexBytes = bytes;
    this.#indexLoaded = true;
  }

  async #shardNames(): Promise<string[]> {
    try {
      const names = await fs.promises.readdir(this.#root);
      return names.filter((n) => /^[0-9a-f]{2}$/.test(n)).sort();
    } catch (error) {
      if (isMissing(error)) return [];
      throw ioError('list', this.#root, error);
    }
  }

  /** Each shard directory with the names in it (a shard removed meanwhile is skipped). */
  async *#shardListings(): AsyncGenerator<{ shardDir: string; names: string[] }> {
    for (const shard of await this.#shardNames()) {
      const shardDir = `${this.#root}/${shard}`;
      let names: string[];
      try {
        names = await fs.promises.readdir(shardDir);
      } catch (error) {
        if (isMissing(error)) continue;
        throw ioError('list', shardDir, error);
      }
      yield { shardDir, names };
    }
  }

  /** Entry files and temporary files, with sizes and mtimes. */
  async #scan(): Promise<Scan> {
    const entries: ScannedFile[] = [];
    const temps: ScannedFile[] = [];
    for await (const { shardDir, names } of this.#shardListings()) {
      this.#shards.add(shardDir);
      const wanted = names.filter((n) => ENTRY_NAME.test(n) || isTempName(n));
      await inBatches(wanted, async (name) => {
        const path = `${shardDir}/${name}`;
        try {
          const st = await fs.promises.lstat(path);
          if (!st.isFile()) return;
          const file = { name, path, size: st.size, mtimeMs: st.mtimeMs };
          (isTempName(name) ? temps : entries).push(file);
        } catch (error) {
          if (!isMissing(error)) throw ioError('stat', path, error);
        }
      });
    }
    return { entries, temps };
  }

  async #quarantined(): Promise<ScannedFile[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.#quarantineDir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw ioError('list', this.#quarantineDir, error);
    }
    const files: ScannedFile[] = [];
    await inBatches(names, async (name) => {
      const path = `${this.#quarantineDir}/${name}`;
      try {
        const st = await fs.promises.lstat(path);
        if (st.isFile()) files.push({ name, path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {}
    });
    return files;
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

/**
 * Whether the small entry file at `path` is intact and stores the same key and result as `file`
 * (provenance and metadata may differ).
 */
function holdsSameResult(path: string, file: Buffer): boolean {
  if (file.length > FIRST_READ) return false;
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const n = readFullySync(fd, scratch, 0, FIRST_READ, 0);
    const stored = scratch.subarray(0, n);
    const old = parseLayout(stored);
    const next = parseLayout(file);
    if (old === undefined || next === undefined || old.total !== n) return false;
    return (
      old.resultLength === next.resultLength &&
      keyBytesOf(stored, old).equals(keyBytesOf(file, next)) &&
      resultOf(stored, old).equals(resultOf(file, next)) &&
      checksumMatches(stored, old)
    );
  } catch {
    return false;
  } finally {
    closeQuietly(fd, true);
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

function isTempName(name: string): boolean {
  return name.charCodeAt(0) === 0x2e && name.endsWith('.tmp');
}

/** Reads the rest of a large entry into `buf` (which holds its first `have` bytes). */
async function readRest(
  fd: number,
  buf: Buffer,
  layout: EntryLayout,
  have: number,
  sync: boolean,
): Promise<ReadOutcome> {
  const want = layout.total - have;
  const n = sync
    ? readFullySync(fd, buf, have, want, have)
    : await readFullyAsync(fd, buf, have, want, have);
  if (n < want) return { kind: 'corrupt', ino: undefined, why: 'truncated' };
  const probe = Buffer.allocUnsafe(1);
  const extra = sync
    ? readFullySync(fd, probe, 0, 1, layout.total)
    : await readFullyAsync(fd, probe, 0, 1, layout.total);
  if (extra > 0) return { kind: 'corrupt', ino: undefined, why: 'trailing bytes' };
  return { kind: 'ok', buf, layout };
}

/** Reads an entry asynchronously through an open descriptor, `first` taking the first bytes. */
async function readOpen(fd: number, first: Buffer): Promise<ReadOutcome> {
  const n = await readFullyAsync(fd, first, 0, first.length, 0);
  const layout = parseLayout(first.subarray(0, n));
  if (layout === undefined) return { kind: 'corrupt', ino: undefined, why: 'bad header' };
  if (layout.total <= n) {
    if (n > layout.total) return { kind: 'corrupt', ino: undefined, why: 'trailing bytes' };
    const buf = Buffer.allocUnsafeSlow(layout.total);
    first.copy(buf, 0, 0, n);
    return { kind: 'ok', buf, layout };
  }
  if (n < first.length) return { kind: 'corrupt', ino: undefined, why: 'truncated' };
  const buf = Buffer.allocUnsafeSlow(layout.total);
  first.copy(buf, 0, 0, n);
  return readRest(fd, buf, layout, n, false);
}

function closeQuietly(fd: number, sync: boolean): void {
  if (sync) {
    try {
      fs.closeSync(fd);
    } catch {}
  } else {
    fs.close(fd, () => {});
  }
}

async function fsyncPath(path: string): Promise<void> {
  let fd: number;
  try {
    fd = await openAsync(path, 'r');
  } catch {
    return; // Evicted or deleted since: nothing left to make durable.
  }
  try {
    await fsyncAsync(fd);
  } catch {
    // Best effort: a failed background fsync only weakens durability, never correctness.
  } finally {
    await closeAsync(fd).catch(() => {});
  }
}

/** Runs `fn` over `items`, at most {@link STAT_CONCURRENCY} at a time. */
async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += STAT_CONCURRENCY) {
    await Promise.all(
      items.slice(i, i + STAT_CONCURRENCY).map((item) => fn(item).catch(rethrowIo)),
    );
  }
}

function rethrowIo(error: unknown): void {
  if (PhysError.is(error)) throw error;
  // Background touches and fsyncs of files removed meanwhile are not errors.
}

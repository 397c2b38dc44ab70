// What `phys cache ls|verify|gc|clear` and `phys plan` ask of a DiskCache: whole-directory
// passes over the entry files, each of which also resets the index to what is on disk.

import type { LineageRecord } from '@phys/core';
import type { BackgroundSync } from './background-sync.js';
import type { CacheIndex } from './cache-index.js';
import { isKeyInputs, nonEmpty } from './entry-file.js';
import type { DiskCacheEntryInfo, GcOptions, GcReport, VerifyReport } from './public-types.js';
import { isEntryName, type ScannedFile, type ShardStore } from './shard-store.js';

export type { DiskCacheEntryInfo, GcOptions, GcReport, VerifyReport } from './public-types.js';

/** The parts of a DiskCache a maintenance pass works on. */
export interface MaintainedParts {
  readonly store: ShardStore;
  readonly index: CacheIndex;
  readonly sync: BackgroundSync;
  /** Evicts least recently used entries down to the size limit. */
  evict(): Promise<void>;
  /** Moves a damaged entry aside and counts it. */
  quarantine(path: string, name: string, ino: number | undefined): Promise<void>;
}

export const DEFAULT_TEMP_MAX_AGE_MS = 30 * 60_000;
const DEFAULT_QUARANTINE_MAX_AGE_MS = 7 * 24 * 3_600_000;

/** Every entry with its metadata, from the files' headers (unverified); unreadable files skipped. */
export async function* listEntries(store: ShardStore): AsyncGenerator<DiskCacheEntryInfo> {
  for await (const { shardDir, names } of store.shardListings()) {
    names.sort();
    for (const name of names) {
      if (!isEntryName(name)) continue;
      const header = await store.readHeader(`${shardDir}/${name}`, name);
      if (header === undefined) continue;
      const { meta } = header;
      yield {
        key: header.key,
        size: header.size,
        createdAt: new Date(meta.createdAt),
        lastUsedAt: header.mtime,
        ...(nonEmpty(meta.stage) === undefined ? {} : { stage: meta.stage }),
        ...(nonEmpty(meta.stageVersion) === undefined ? {} : { stageVersion: meta.stageVersion }),
        ...(nonEmpty(meta.nodeId) === undefined ? {} : { nodeId: meta.nodeId }),
        ...(isKeyInputs(meta.keyInputs) ? { keyInputs: meta.keyInputs } : {}),
      };
    }
  }
}

/** The newest of `entries` for every node id that wrote one. */
export async function lineageOf(
  entries: AsyncIterable<DiskCacheEntryInfo>,
): Promise<Map<string, LineageRecord>> {
  const newest = new Map<string, LineageRecord>();
  for await (const info of entries) {
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

/** Reads and checks every entry; bad ones are quarantined. The index becomes the good ones. */
export async function verifyEntries(parts: MaintainedParts): Promise<VerifyReport> {
  const { store, index } = parts;
  const scan = await store.scan();
  let ok = 0;
  let bytes = 0;
  let corrupt = 0;
  const good: ScannedFile[] = [];
  for (const file of scan.entries) {
    const read = await store.read(file.path, file.name, undefined, true);
    if (read.kind === 'miss') continue;
    if (read.kind === 'corrupt') {
      corrupt++;
      await parts.quarantine(file.path, file.name, read.ino);
      continue;
    }
    ok++;
    bytes += read.layout.total;
    good.push(file);
  }
  index.rebuild(good);
  const symlinks = [...new Set([...scan.links, ...(await store.topLevelLinks())])].sort();
  return { checked: ok + corrupt, ok, corrupt, bytes, symlinks };
}

/**
 * Rescans, evicts down to the size limit, and removes temporary files of writers that died and
 * old quarantined entries.
 */
export async function collectGarbage(
  parts: MaintainedParts,
  options: GcOptions,
): Promise<GcReport> {
  const { store, index } = parts;
  const tempMaxAge = options.tempMaxAgeMs ?? DEFAULT_TEMP_MAX_AGE_MS;
  const quarantineMaxAge = options.quarantineMaxAgeMs ?? DEFAULT_QUARANTINE_MAX_AGE_MS;
  const scan = await store.scan();
  index.rebuild(scan.entries);
  const before = { evictions: index.evictions, bytes: index.bytes };
  await parts.evict();
  const now = Date.now();
  let tempFilesRemoved = 0;
  for (const temp of scan.temps) {
    if (now - temp.mtimeMs >= tempMaxAge && (await store.unlink(temp.path))) tempFilesRemoved++;
  }
  let quarantineRemoved = 0;
  for (const file of await store.quarantined()) {
    if (now - file.mtimeMs >= quarantineMaxAge && (await store.unlink(file.path))) {
      quarantineRemoved++;
    }
  }
  return {
    evicted: index.evictions - before.evictions,
    evictedBytes: before.bytes - index.bytes,
    tempFilesRemoved,
    quarantineRemoved,
    entries: index.entries,
    bytes: index.bytes,
  };
}

/** Removes every entry, temporary file and quarantined file; counts the entries. */
export async function clearEntries(
  parts: MaintainedParts,
): Promise<{ readonly entries: number; readonly bytes: number }> {
  const { store } = parts;
  const scan = await store.scan();
  let entries = 0;
  let bytes = 0;
  for (const file of scan.entries) {
    if (await store.unlink(file.path)) {
      entries++;
      bytes += file.size;
    }
  }
  for (const temp of scan.temps) await store.unlink(temp.path);
  for (const file of await store.quarantined()) await store.unlink(file.path);
  parts.index.rebuild([]);
  parts.sync.dropAll();
  return { entries, bytes };
}

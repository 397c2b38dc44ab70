// The shapes the public API speaks in (entry metadata, `list`, `verify` and `gc` reports, lock
// holders), in a module that depends on nothing of Node's: the declaration files a config
// imports type-check without @types/node.
import type { DagKeyInputs } from '@phys/core';

/** What an entry file records besides the entry itself (shown by `list()`). @public */
export interface EntryMetadata {
  /** Milliseconds since the epoch when the entry was written. */
  readonly createdAt: number;
  /** Name of the stage that produced it. */
  readonly stage?: string;
  /** Version of that stage. */
  readonly stageVersion?: string;
  /** The node that produced it (entries are shared by every node with the same key). */
  readonly nodeId?: string;
  /** What the key was derived from, when the writer recorded it. */
  readonly keyInputs?: DagKeyInputs;
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
  /**
   * Symbolic links found inside the cache directory where it keeps its own directories and
   * files (`v1/`, shard directories, entries, `quarantine/`, `locks/`). The cache never follows
   * them, nor writes or deletes through them; remove them.
   */
  readonly symlinks: readonly string[];
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

/** What a lock file says about its holder. @public */
export interface LockOwner {
  /** Host name of the holder. */
  readonly host: string;
  /** Process id of the holder on its host. */
  readonly pid: number;
  /** User name of the holder. */
  readonly user: string;
  /** Milliseconds since the epoch when the lock was taken. */
  readonly since: number;
  /** Random per lock: a holder removes only a lock that still carries its token. */
  readonly token: string;
}

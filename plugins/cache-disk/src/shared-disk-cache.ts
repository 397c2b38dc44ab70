import { join } from 'node:path';
import { DiskCache, type DiskCacheOptions, resolveCacheDir } from './disk-cache.js';
import { FileLock } from './file-lock.js';
import type { LockOwner } from './public-types.js';

/** Options of {@link SharedDiskCache}. @public */
export interface SharedDiskCacheOptions extends Omit<DiskCacheOptions, 'lock'> {
  /** How often a computing process touches its lock (default 5000 ms). */
  readonly heartbeatMs?: number;
  /**
   * A lock whose heartbeat has not moved for this long, as timed by the waiter's own clock, is
   * stale and taken over (default 30000 ms; at least twice `heartbeatMs`).
   */
  readonly lockStaleMs?: number;
  /** First pause between checks while waiting (default 20 ms); pauses grow by half each time. */
  readonly pollMinMs?: number;
  /** Longest pause between checks while waiting (default 1000 ms). */
  readonly pollMaxMs?: number;
}

const LOCKS_DIR = 'locks';

/**
 * A {@link DiskCache} for many processes and users on a shared file system (NFS, Lustre, GPFS):
 * a DiskCache whose `lock` is lock files in `<dir>/locks/`, with settings for a group.
 *
 * @remarks
 * Readers never lock. {@link DiskCache.getOrCompute} is single flight across processes
 * and hosts: one process takes `<dir>/locks/<key>.lock` (created with O_EXCL, holding its host,
 * pid, user and a token), refreshes its mtime every `heartbeatMs`, computes, publishes the entry
 * by rename and removes the lock; the others poll with backoff until the entry appears, and
 * take over a lock whose heartbeat stopped for `lockStaleMs` (or whose holder is a dead process
 * on this host). {@link DiskCache.gc} also removes abandoned locks. Files are created 0o664 and
 * directories 0o2775 whatever the umask, so a group can share the cache. All I/O is
 * asynchronous by default (`syncIoMaxBytes: 0`).
 * @public
 */
export class SharedDiskCache extends DiskCache {
  readonly #lock: FileLock;

  constructor(options: SharedDiskCacheOptions) {
    const fileMode = options?.fileMode ?? 0o664;
    const dirMode = options?.dirMode ?? 0o2775;
    const lock = new FileLock(join(resolveCacheDir(options), LOCKS_DIR), {
      fileMode,
      dirMode,
      heartbeatMs: options.heartbeatMs,
      lockStaleMs: options.lockStaleMs,
      pollMinMs: options.pollMinMs,
      pollMaxMs: options.pollMaxMs,
    });
    super({ name: 'shared-disk', syncIoMaxBytes: 0, ...options, fileMode, dirMode, lock });
    this.#lock = lock;
  }

  /** Path of the lock file that guards the computation of `key`. */
  lockPathOf(key: string): string {
    return this.#lock.pathOf(key);
  }

  /** Who holds the lock of `key`, or undefined when nobody computes it. */
  async lockOwner(key: string): Promise<LockOwner | undefined> {
    return this.#lock.owner(key);
  }
}

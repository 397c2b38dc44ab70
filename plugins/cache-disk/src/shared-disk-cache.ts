// Single flight across processes and hosts without flock (unreliable or absent on NFS and
// Lustre): the first process to create `<dir>/locks/<key>.lock` with O_EXCL computes the entry
// while touching the lock's mtime (its heartbeat); the others wait for the entry to appear. A
// lock whose heartbeat stops is stale and is taken over: renamed aside atomically (only one
// waiter can win that rename), then a fresh O_EXCL create.

import fs from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { type CacheEntry, CancelledError, UsageError } from '@phys/core';
import {
  checkKey,
  DiskCache,
  type DiskCacheOptions,
  fileNameOf,
  type GcOptions,
  type GcReport,
  type GetOrComputeOptions,
  type GetOrComputeResult,
  uniqueSuffix,
} from './disk-cache.js';
import {
  closeAsync,
  ensureDir,
  fchmodAsync,
  fstatAsync,
  ioError,
  isMissing,
  openAsync,
  readFullyAsync,
  writeFullyAsync,
} from './fs-util.js';

/** Options of {@link SharedDiskCache}. @public */
export interface SharedDiskCacheOptions extends DiskCacheOptions {
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

const LOCKS_DIR = 'locks';
const HOST = hostname();
const USER = (() => {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
})();

interface LockSighting {
  readonly ino: number;
  readonly mtimeMs: number;
  /** When this waiter first saw the lock in this state (its own monotonic clock). */
  readonly since: number;
}

interface HeldLock {
  release(): Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new UsageError(
      `SharedDiskCache \`${name}\` is a positive number of ms, got ${String(v)}.`,
    );
  }
  return v;
}

/**
 * A {@link DiskCache} for many processes and users on a shared file system (NFS, Lustre, GPFS).
 *
 * @remarks
 * Readers never lock. {@link DiskCache.getOrCompute} is single flight across processes
 * and hosts: one process takes `<dir>/locks/<key>.lock` (created with O_EXCL, holding its host,
 * pid, user and a token), refreshes its mtime every `heartbeatMs`, computes, publishes the entry
 * by rename and removes the lock; the others poll with backoff until the entry appears, and
 * take over a lock whose heartbeat stopped for `lockStaleMs` (or whose holder is a dead process
 * on this host). Files are created 0o664 and directories 0o2775 whatever the umask, so a group
 * can share the cache. All I/O is asynchronous by default (`syncIoMaxBytes: 0`).
 * @public
 */
export class SharedDiskCache extends DiskCache {
  readonly #locksDir: string;
  readonly #fileMode: number;
  readonly #dirMode: number;
  readonly #heartbeatMs: number;
  readonly #staleMs: number;
  readonly #pollMinMs: number;
  readonly #pollMaxMs: number;

  constructor(options: SharedDiskCacheOptions) {
    const fileMode = options?.fileMode ?? 0o664;
    const dirMode = options?.dirMode ?? 0o2775;
    super({ name: 'shared-disk', syncIoMaxBytes: 0, ...options, fileMode, dirMode });
    this.#fileMode = fileMode;
    this.#dirMode = dirMode;
    this.#locksDir = join(this.dir, LOCKS_DIR);
    this.#heartbeatMs = positive('heartbeatMs', options.heartbeatMs, 5000);
    this.#staleMs = positive('lockStaleMs', options.lockStaleMs, 30_000);
    if (this.#staleMs < 2 * this.#heartbeatMs) {
      throw new UsageError(
        `SharedDiskCache \`lockStaleMs\` (${this.#staleMs}) must be at least twice \`heartbeatMs\` (${this.#heartbeatMs}), or live locks would look stale.`,
      );
    }
    this.#pollMinMs = positive('pollMinMs', options.pollMinMs, 20);
    this.#pollMaxMs = Math.max(this.#pollMinMs, positive('pollMaxMs', options.pollMaxMs, 1000));
  }

  /** Path of the lock file that guards the computation of `key`. */
  lockPathOf(key: string): string {
    checkKey(key);
    return `${this.#locksDir}/${fileNameOf(key)}.lock`;
  }

  /** Who holds the lock of `key`, or undefined when nobody computes it. */
  async lockOwner(key: string): Promise<LockOwner | undefined> {
    return readOwner(this.lockPathOf(key));
  }

  /** Single flight across processes: see the class remarks. */
  protected override async computeOnce(
    key: string,
    compute: () => CacheEntry | Promise<CacheEntry>,
    options: GetOrComputeOptions,
  ): Promise<GetOrComputeResult> {
    const { signal } = options;
    const lockPath = this.lockPathOf(key);
    const first = await this.get(key);
    if (first !== undefined) return { entry: first, computed: false };
    let sighting: LockSighting | undefined;
    let delay = this.#pollMinMs;
    for (;;) {
      if (signal?.aborted) throw aborted();
      const lock = await this.#tryLock(lockPath);
      if (lock !== undefined) {
        try {
          // The previous holder may have published and released between our miss and our lock.
          const published = await this.#published(key);
          if (published !== undefined) return { entry: published, computed: false };
          const entry = await compute();
          await this.put(key, entry);
          return { entry, computed: true };
        } finally {
          await lock.release();
        }
      }
      const seen = await statLock(lockPath);
      if (seen !== undefined) {
        const now = performance.now();
        let dead = false;
        if (sighting?.ino !== seen.ino || sighting.mtimeMs !== seen.mtimeMs) {
          // A holder we have not judged yet: a dead process of this host needs no waiting.
          dead = sighting?.ino !== seen.ino && (await holderIsDead(lockPath));
          sighting = { ...seen, since: now };
        }
        if (dead || now - sighting.since >= this.#staleMs) {
          await this.#takeOver(lockPath, seen);
          sighting = undefined;
          continue;
        }
        await sleep(delay * (0.75 + Math.random() / 2), signal);
        delay = Math.min(this.#pollMaxMs, delay * 1.5);
      }
      const published = await this.#published(key);
      if (published !== undefined) return { entry: published, computed: false };
    }
  }

  /** Also removes lock files abandoned longer than `tempMaxAgeMs`, and stale locks set aside. */
  override async gc(options: GcOptions = {}): Promise<GcReport> {
    const report = await super.gc(options);
    const maxAge = Math.max(options.tempMaxAgeMs ?? 30 * 60_000, this.#staleMs);
    let names: string[] = [];
    try {
      names = await fs.promises.readdir(this.#locksDir);
    } catch (error) {
      if (!isMissing(error)) throw ioError('list', this.#locksDir, error);
    }
    const now = Date.now();
    let removed = 0;
    for (const name of names) {
      const path = `${this.#locksDir}/${name}`;
      try {
        const st = await fs.promises.lstat(path);
        if (st.isFile() && now - st.mtimeMs >= maxAge) {
          await fs.promises.unlink(path);
          removed++;
        }
      } catch (error) {
        if (!isMissing(error)) throw ioError('remove', path, error);
      }
    }
    return { ...report, tempFilesRemoved: report.tempFilesRemoved + removed };
  }

  /** The entry of `key` if one has been published (a cheap existence check first). */
  async #published(key: string): Promise<CacheEntry | undefined> {
    return (await this.has(key)) ? this.get(key) : undefined;
  }

  async #tryLock(lockPath: string): Promise<HeldLock | undefined> {
    const owner: LockOwner = {
      host: HOST,
      pid: process.pid,
      user: USER,
      since: Date.now(),
      token: uniqueSuffix(),
    };
    let fd: number;
    try {
      fd = await openAsync(lockPath, 'wx', this.#fileMode);
    } catch (error) {
      if ((error as { code?: string }).code === 'EEXIST') return undefined;
      if (!isMissing(error)) throw ioError('create lock', lockPath, error);
      await ensureDir(this.#locksDir, this.#dirMode).catch((e: unknown) => {
        throw ioError('create directory', this.#locksDir, e);
      });
      return this.#tryLock(lockPath);
    }
    try {
      await fchmodAsync(fd, this.#fileMode).catch(() => {});
      await writeFullyAsync(fd, Buffer.from(`${JSON.stringify(owner)}\n`), 0);
    } finally {
      await closeAsync(fd).catch(() => {});
    }
    const beat = setInterval(() => {
      const now = new Date();
      // A failed touch means the lock was moved (a takeover, or one being undone): the token
      // check on release keeps us from removing anyone else's lock.
      fs.utimes(lockPath, now, now, () => {});
    }, this.#heartbeatMs);
    beat.unref();
    return {
      release: async () => {
        clearInterval(beat);
        const current = await readOwner(lockPath);
        if (current?.token === owner.token) {
          await fs.promises.unlink(lockPath).catch(() => {});
        }
      },
    };
  }

  /** Removes a stale lock: rename aside (one waiter wins), check it was the one judged stale. */
  async #takeOver(lockPath: string, seen: { ino: number; mtimeMs: number }): Promise<void> {
    const aside = `${lockPath}.stale.${uniqueSuffix()}`;
    try {
      await fs.promises.rename(lockPath, aside);
    } catch (error) {
      if (isMissing(error)) return; // Released, or another waiter took it over first.
      throw ioError('take over lock', lockPath, error);
    }
    try {
      const st = await fs.promises.stat(aside);
      if (st.ino !== seen.ino || st.mtimeMs !== seen.mtimeMs) {
        // A new holder or a fresh heartbeat since we judged it: put it back (link never
        // replaces, so a lock created meanwhile wins).
        await fs.promises.link(aside, lockPath).catch(() => {});
      }
    } finally {
      await fs.promises.unlink(aside).catch(() => {});
    }
  }
}

/** Inode and mtime of a lock, through open + fstat so NFS revalidates cached attributes. */
async function statLock(path: string): Promise<{ ino: number; mtimeMs: number } | undefined> {
  let fd: number;
  try {
    fd = await openAsync(path, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw ioError('open lock', path, error);
  }
  try {
    const st = await fstatAsync(fd);
    return { ino: st.ino, mtimeMs: st.mtimeMs };
  } finally {
    await closeAsync(fd).catch(() => {});
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  let fd: number;
  try {
    fd = await openAsync(path, 'r');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw ioError('open lock', path, error);
  }
  try {
    const buf = Buffer.allocUnsafe(4096);
    const n = await readFullyAsync(fd, buf, 0, buf.length, 0);
    const owner = JSON.parse(buf.toString('utf8', 0, n)) as LockOwner;
    return typeof owner === 'object' && owner !== null && typeof owner.token === 'string'
      ? owner
      : undefined;
  } catch {
    // Being written right now, or damaged: it names no one.
    return undefined;
  } finally {
    await closeAsync(fd).catch(() => {});
  }
}

/** True when the lock's holder is a process of this host that no longer exists. */
async function holderIsDead(lockPath: string): Promise<boolean> {
  const owner = await readOwner(lockPath);
  if (owner === undefined || owner.host !== HOST || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as { code?: string }).code === 'ESRCH';
  }
}

function aborted(): CancelledError {
  return new CancelledError(
    'Stopped waiting for another process to compute a cache entry: the wait was aborted.',
  );
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

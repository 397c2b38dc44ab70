// Single flight across processes and hosts without flock (unreliable or absent on NFS and
// Lustre): the first process to create `<dir>/locks/<key>.lock` with O_EXCL computes the entry
// while touching the lock's mtime (its heartbeat); the others wait for the entry to appear. A
// lock whose heartbeat stops is stale and is taken over: renamed aside atomically (only one
// waiter can win that rename), then a fresh O_EXCL create.

import fs from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { type CacheEntry, CancelledError, UsageError } from '@phys/core';
import {
  closeAsync,
  ensureDir,
  fchmodAsync,
  fstatAsync,
  ioError,
  isMissing,
  isRealDir,
  openWaiting,
  READ_NOFOLLOW,
  readFullyAsync,
  retryOutOfDescriptors,
  uniqueSuffix,
  unsafeError,
  withDescriptor,
  writeFullyAsync,
} from './fs-util.js';
import { DEFAULT_TEMP_MAX_AGE_MS, type GcOptions } from './maintenance.js';
import type { LockOwner } from './public-types.js';
import { checkKey, fileNameOf } from './shard-store.js';
import type { LockOutcome, SingleFlightLock } from './single-flight-lock.js';

export type { LockOwner } from './public-types.js';

/** Options of a {@link FileLock}. */
export interface FileLockOptions {
  /** Mode of lock files. */
  readonly fileMode: number;
  /** Mode of the locks directory. */
  readonly dirMode: number;
  /** How often a computing process touches its lock (default 5000 ms). */
  readonly heartbeatMs?: number | undefined;
  /** A lock whose heartbeat stopped this long is stale (default 30000 ms). */
  readonly lockStaleMs?: number | undefined;
  /** First pause between checks while waiting (default 20 ms). */
  readonly pollMinMs?: number | undefined;
  /** Longest pause between checks while waiting (default 1000 ms). */
  readonly pollMaxMs?: number | undefined;
}

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

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v <= 0) {
    throw new UsageError(
      `SharedDiskCache \`${name}\` is a positive number of ms, got ${String(v)}.`,
    );
  }
  return v;
}

/** O_EXCL lock files with a heartbeat in one directory: the lock of {@link SharedDiskCache}. */
export class FileLock implements SingleFlightLock {
  readonly #locksDir: string;
  readonly #fileMode: number;
  readonly #dirMode: number;
  readonly #heartbeatMs: number;
  readonly #staleMs: number;
  readonly #pollMinMs: number;
  readonly #pollMaxMs: number;
  /** `locksDir` was found to be a real directory, not a symbolic link. */
  #dirChecked = false;

  constructor(locksDir: string, options: FileLockOptions) {
    this.#locksDir = locksDir;
    this.#fileMode = options.fileMode;
    this.#dirMode = options.dirMode;
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
  pathOf(key: string): string {
    checkKey(key);
    return `${this.#locksDir}/${fileNameOf(key)}.lock`;
  }

  /** Who holds the lock of `key`, or undefined when nobody computes it. */
  owner(key: string): Promise<LockOwner | undefined> {
    return readOwner(this.pathOf(key));
  }

  async acquire(
    key: string,
    published: () => Promise<CacheEntry | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<LockOutcome> {
    const lockPath = this.pathOf(key);
    let sighting: LockSighting | undefined;
    let delay = this.#pollMinMs;
    for (;;) {
      if (signal?.aborted) throw aborted();
      const release = await this.#tryLock(lockPath);
      if (release !== undefined) return { locked: true, release };
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
      const entry = await published();
      if (entry !== undefined) return { locked: false, entry };
    }
  }

  /** Removes lock files abandoned longer than `tempMaxAgeMs`, and stale locks set aside. */
  async gc(options: GcOptions): Promise<number> {
    const maxAge = Math.max(options.tempMaxAgeMs ?? DEFAULT_TEMP_MAX_AGE_MS, this.#staleMs);
    let names: string[] = [];
    try {
      // A `locks` that is a symbolic link is not ours to clean (`verify` reports it).
      if ((await isRealDir(this.#locksDir)) !== true) return 0;
      names = await retryOutOfDescriptors(() => fs.promises.readdir(this.#locksDir));
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
    return removed;
  }

  /** Throws PHYS_CACHE_DISK_UNSAFE when the locks directory is a symbolic link. */
  async #checkDir(): Promise<void> {
    if (this.#dirChecked) return;
    let real: boolean | undefined;
    try {
      real = await isRealDir(this.#locksDir);
    } catch (error) {
      throw ioError('inspect', this.#locksDir, error);
    }
    if (real === false) throw unsafeError('create a lock', this.#locksDir);
    this.#dirChecked = real === true;
  }

  /** Creates the lock with O_EXCL and starts its heartbeat; undefined when someone holds it. */
  async #tryLock(lockPath: string): Promise<(() => Promise<void>) | undefined> {
    const owner: LockOwner = {
      host: HOST,
      pid: process.pid,
      user: USER,
      since: Date.now(),
      token: uniqueSuffix(),
    };
    await this.#checkDir();
    const created = await withDescriptor(async () => {
      let fd: number;
      try {
        fd = await openWaiting(lockPath, 'wx', this.#fileMode);
      } catch (error) {
        if ((error as { code?: string }).code === 'EEXIST') return 'held';
        if (!isMissing(error)) throw ioError('create lock', lockPath, error);
        return 'no-dir';
      }
      try {
        await fchmodAsync(fd, this.#fileMode).catch(() => {});
        await writeFullyAsync(fd, Buffer.from(`${JSON.stringify(owner)}\n`), 0);
      } finally {
        await closeAsync(fd).catch(() => {});
      }
      return 'created';
    });
    if (created === 'held') return undefined;
    if (created === 'no-dir') {
      await ensureDir(this.#locksDir, this.#dirMode).catch((e: unknown) => {
        throw ioError('create directory', this.#locksDir, e);
      });
      this.#dirChecked = false;
      await this.#checkDir();
      return this.#tryLock(lockPath);
    }
    const beat = setInterval(() => {
      const now = new Date();
      // A failed touch means the lock was moved (a takeover, or one being undone): the token
      // check on release keeps us from removing anyone else's lock.
      fs.utimes(lockPath, now, now, () => {});
    }, this.#heartbeatMs);
    beat.unref();
    return async () => {
      clearInterval(beat);
      const current = await readOwner(lockPath);
      if (current?.token === owner.token) {
        await fs.promises.unlink(lockPath).catch(() => {});
      }
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

/**
 * The lock file opened for reading (never through a symbolic link, never blocking on a FIFO),
 * or undefined when it is gone (released or broken).
 */
async function openLock(path: string): Promise<number | undefined> {
  try {
    return await openWaiting(path, READ_NOFOLLOW);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw ioError('open lock', path, error);
  }
}

/** Inode and mtime of a lock, through open + fstat so NFS revalidates cached attributes. */
function statLock(path: string): Promise<{ ino: number; mtimeMs: number } | undefined> {
  return withDescriptor(async () => {
    const fd = await openLock(path);
    if (fd === undefined) return undefined;
    try {
      const st = await fstatAsync(fd);
      return { ino: st.ino, mtimeMs: st.mtimeMs };
    } finally {
      await closeAsync(fd).catch(() => {});
    }
  });
}

function readOwner(path: string): Promise<LockOwner | undefined> {
  return withDescriptor(async () => {
    const fd = await openLock(path);
    if (fd === undefined) return undefined;
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
  });
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

// Every key a run waits for sleeps on the run's one AbortSignal. One listener per signal, however
// many sleepers share it: one listener each made Node warn of a leak (MaxListenersExceeded) as
// soon as 11 keys of a run waited for another process at once.
const sleepers = new WeakMap<AbortSignal, Set<() => void>>();

function onSignal(this: AbortSignal): void {
  const wakers = sleepers.get(this);
  sleepers.delete(this);
  if (wakers !== undefined) for (const wake of wakers) wake();
}

/** Calls `wake` once when `signal` aborts; returns what undoes that. */
function whenAborted(signal: AbortSignal, wake: () => void): () => void {
  let wakers = sleepers.get(signal);
  if (wakers === undefined) {
    wakers = new Set();
    sleepers.set(signal, wakers);
    signal.addEventListener('abort', onSignal, { once: true });
  }
  wakers.add(wake);
  const mine = wakers;
  return () => {
    mine.delete(wake);
    if (mine.size === 0 && sleepers.get(signal) === mine) {
      sleepers.delete(signal);
      signal.removeEventListener('abort', onSignal);
    }
  };
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const timer = setTimeout(() => {
      forget?.();
      resolve();
    }, ms);
    const forget =
      signal === undefined
        ? undefined
        : whenAborted(signal, () => {
            clearTimeout(timer);
            reject(aborted());
          });
  });
}

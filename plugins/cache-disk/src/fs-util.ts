// Small file-system helpers. The fd-based calls are promisified callbacks rather than
// fs/promises FileHandles: for the many tiny files of a cache, FileHandle bookkeeping costs more
// than the system calls themselves.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { PhysError } from '@phys/core';

export const openAsync = promisify(fs.open);
export const closeAsync = promisify(fs.close);
export const fsyncAsync = promisify(fs.fsync);
export const fstatAsync = promisify(fs.fstat);
export const fchmodAsync = promisify(fs.fchmod);

// Distinguishes temporary files of concurrent writers, also across hosts sharing a directory.
const WRITER_TOKEN = randomBytes(6).toString('hex');
const STAT_CONCURRENCY = 32;
let uniqueCounter = 0;

/** A name no other writer uses: this process's token and a counter. */
export function uniqueSuffix(): string {
  return `${WRITER_TOKEN}${++uniqueCounter}`;
}

export function readAsync(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, offset, length, position, (error, n) => (error ? reject(error) : resolve(n)));
  });
}

export function writeAsync(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, 0, buf.byteLength, position, (error, n) =>
      error ? reject(error) : resolve(n),
    );
  });
}

/** Writes all of `buf` at `position` (a write may be partial). */
export async function writeFullyAsync(fd: number, buf: Uint8Array, position: number) {
  let done = 0;
  while (done < buf.byteLength) {
    done += await writeAsync(fd, buf.subarray(done), position + done);
  }
}

/** Writes all of `buf` at `position` (a write may be partial). */
export function writeFullySync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    done += fs.writeSync(fd, buf, done, buf.byteLength - done, position + done);
  }
}

/** Reads into `buf[offset, offset+length)` until full or end of file; returns bytes read. */
export async function readFullyAsync(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const n = await readAsync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Reads into `buf[offset, offset+length)` until full or end of file; returns bytes read. */
export function readFullySync(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): number {
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, offset + done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "Not there": the file, or a directory on its path, does not exist. */
export function isMissing(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The process (or the system) has no file descriptor left: wait for one, it is not a miss. */
export function isOutOfDescriptors(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'EMFILE' || code === 'ENFILE';
}

/** A cache I/O failure the user has to look at (permissions, a full disk, a dead mount). */
export function ioError(what: string, path: string, error: unknown): PhysError {
  const code = errnoOf(error);
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? 'Check that this user may read and write the cache directory (for a shared cache, that it is group-writable and the user is in its group).'
      : code === 'ENOSPC' || code === 'EDQUOT'
        ? 'The disk or quota is full: free space, lower maxBytes, or run `phys cache gc`.'
        : code === 'EROFS'
          ? 'The file system is read-only: point the cache at a writable directory (the `dir` option of cache-disk), or remount it read-write.'
          : code === 'EMFILE' || code === 'ENFILE'
            ? `No file descriptor came free within ${DESCRIPTOR_WAIT_MS / 1000} s: raise the limit (\`ulimit -n\`), or lower what else holds descriptors in this process.`
            : 'Check that the cache directory exists and its file system is mounted and healthy.';
  return new PhysError(
    'PHYS_CACHE_DISK_IO',
    `Cannot ${what} ${path}${code === undefined ? '' : ` (${code})`}. ${hint}`,
    {
      cause: error,
      retryable: code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS',
      details: { path, ...(code === undefined ? {} : { errno: code }) },
    },
  );
}

/**
 * A symbolic link inside the cache directory, where the cache never follows one: a link planted
 * in a shared (group-writable) cache could lead writes, reads and deletes out of it.
 */
export function unsafeError(what: string, path: string): PhysError {
  return new PhysError(
    'PHYS_CACHE_DISK_UNSAFE',
    `Refusing to ${what} through ${path}: it is a symbolic link (or not a directory) inside the cache, and the cache never follows links inside its directory, since one could lead writes and deletes out of it. Remove it; \`phys cache verify\` lists every such path.`,
    { retryable: false, details: { path } },
  );
}

// ---- file descriptors ---------------------------------------------------------------------------
//
// Descriptors are a per-process resource, so every cache of the process shares one bound on the
// descriptors its asynchronous operations hold at once. Synchronous reads and writes open and
// close within one call and need no slot. An open that finds the process out of descriptors
// (EMFILE, ENFILE: descriptors held elsewhere in the process) waits and tries again, for up to
// DESCRIPTOR_WAIT_MS, instead of failing: a cache lookup that gives up is a recompute.

/** Asynchronous cache operations holding a descriptor at once, per process. */
export const MAX_OPEN_DESCRIPTORS = 64;
/** How long an open waits for a descriptor to come free before it fails with EMFILE. */
export const DESCRIPTOR_WAIT_MS = 60_000;

let freeSlots = MAX_OPEN_DESCRIPTORS;
// A FIFO of waiters (an array with a moving head: shift() is O(n) on long queues).
let waiters: (() => void)[] = [];
let waitersHead = 0;

function acquireSlot(): Promise<void> | undefined {
  if (freeSlots > 0) {
    freeSlots--;
    return undefined;
  }
  return new Promise((resolve) => waiters.push(resolve));
}

function releaseSlot(): void {
  if (waitersHead < waiters.length) {
    const next = waiters[waitersHead] as () => void;
    waiters[waitersHead++] = noop;
    if (waitersHead > 1024 && waitersHead * 2 > waiters.length) {
      waiters = waiters.slice(waitersHead);
      waitersHead = 0;
    }
    next();
    return;
  }
  freeSlots++;
}

function noop(): void {}

/**
 * Runs `fn`, which opens descriptors and closes them before it settles, holding one of the
 * process's {@link MAX_OPEN_DESCRIPTORS} slots.
 */
export async function withDescriptor<T>(fn: () => Promise<T>): Promise<T> {
  const wait = acquireSlot();
  if (wait !== undefined) await wait;
  try {
    return await fn();
  } finally {
    releaseSlot();
  }
}

/**
 * `op` (an open, a readdir: anything that takes a descriptor), retried while the process is out
 * of descriptors, with pauses growing from 1 to 100 ms, for up to {@link DESCRIPTOR_WAIT_MS}.
 */
export async function retryOutOfDescriptors<T>(op: () => Promise<T>): Promise<T> {
  let started: number | undefined;
  let delay = 1;
  for (;;) {
    try {
      return await op();
    } catch (error) {
      if (!isOutOfDescriptors(error)) throw error;
      started ??= performance.now();
      if (performance.now() - started >= DESCRIPTOR_WAIT_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
      delay = Math.min(100, delay * 2);
    }
  }
}

/** `open(2)`, waiting while the process is out of descriptors ({@link retryOutOfDescriptors}). */
export function openWaiting(path: string, flags: number | string, mode?: number): Promise<number> {
  return retryOutOfDescriptors(() => openAsync(path, flags, mode));
}

/** Flags that never follow a symbolic link at the last component, nor block on a FIFO. */
export const READ_NOFOLLOW =
  fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/** What `open` with O_NOFOLLOW reports for a symbolic link (ELOOP; EMLINK on some BSDs). */
export function isSymlinkRefused(error: unknown): boolean {
  const code = errnoOf(error);
  return code === 'ELOOP' || code === 'EMLINK';
}

/** Whether `path` is a real directory: not a symbolic link (lstat); undefined when missing. */
export function isRealDirSync(path: string): boolean | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  return st.isDirectory();
}

/** Async {@link isRealDirSync}. */
export async function isRealDir(path: string): Promise<boolean | undefined> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(path);
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  return st.isDirectory();
}

/**
 * Creates `dir` and its missing parents. With `mode`, every directory created here gets exactly
 * that mode (chmod after mkdir: mkdir applies the umask and drops the setgid bit).
 */
export function ensureDirSync(dir: string, mode: number | undefined): void {
  // One directory at a time, never `mkdir -p`: Node's recursive mkdir spins forever where mkdir
  // says ENOENT although the parent exists (a cache dir under /proc), and reports ENOENT for
  // what is really EROFS. Only runs for a missing directory (a new shard), so it costs little.
  const first = mkdirEachSync(dir, mode);
  if (first !== undefined && mode !== undefined) {
    for (const created of createdChain(first, dir)) chmodQuiet(created, mode);
  }
}

/** Async {@link ensureDirSync}. */
export async function ensureDir(dir: string, mode: number | undefined): Promise<void> {
  const first = await mkdirEach(dir, mode);
  if (first !== undefined && mode !== undefined) {
    for (const created of createdChain(first, dir)) {
      await fs.promises.chmod(created, mode).catch(() => {});
    }
  }
}

/**
 * Creates the missing directories of `dir` one at a time, from the deepest existing one down,
 * so that a failure reports its own errno (EROFS, EACCES); returns the first one created.
 */
function mkdirEachSync(dir: string, mode: number | undefined): string | undefined {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    if (fs.existsSync(at)) break;
    missing.push(at);
    if (dirname(at) === at) break;
  }
  let first: string | undefined;
  for (const path of missing.reverse()) {
    try {
      fs.mkdirSync(path, mode === undefined ? undefined : { mode });
      first ??= path;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
  }
  return first;
}

/** Async {@link mkdirEachSync}. */
async function mkdirEach(dir: string, mode: number | undefined): Promise<string | undefined> {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    if (await exists(at)) break;
    missing.push(at);
    if (dirname(at) === at) break;
  }
  let first: string | undefined;
  for (const path of missing.reverse()) {
    try {
      await fs.promises.mkdir(path, mode === undefined ? undefined : { mode });
      first ??= path;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
  }
  return first;
}

function exists(path: string): Promise<boolean> {
  return fs.promises.access(path).then(
    () => true,
    () => false,
  );
}

/** `first`, then each directory below it down to `dir`. */
function createdChain(first: string, dir: string): string[] {
  const chain = [first];
  const rest = dir.slice(first.length).split(/[\\/]/).filter(Boolean);
  let at = first;
  for (const part of rest) {
    at = `${at}/${part}`;
    chain.push(at);
  }
  return chain;
}

function chmodQuiet(path: string, mode: number): void {
  try {
    fs.chmodSync(path, mode);
  } catch {
    // Another user created it first: its mode is theirs to set.
  }
}

export function closeQuietly(fd: number, sync: boolean): void {
  if (sync) {
    try {
      fs.closeSync(fd);
    } catch {}
  } else {
    fs.close(fd, () => {});
  }
}

/** fsyncs the file or directory at `path`, best effort. */
export function fsyncPath(path: string): Promise<void> {
  return withDescriptor(async () => {
    let fd: number;
    try {
      fd = await openWaiting(path, READ_NOFOLLOW);
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
  });
}

/** Runs `fn` over `items`, at most {@link STAT_CONCURRENCY} at a time. */
export async function inBatches<T>(
  items: readonly T[],
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
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

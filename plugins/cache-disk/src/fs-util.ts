// Small file-system helpers. The fd-based calls are promisified callbacks rather than
// fs/promises FileHandles: for the many tiny files of a cache, FileHandle bookkeeping costs more
// than the system calls themselves.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
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

/** A cache I/O failure the user has to look at (permissions, a full disk, a dead mount). */
export function ioError(what: string, path: string, error: unknown): PhysError {
  const code = errnoOf(error);
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? 'Check that this user may read and write the cache directory (for a shared cache, that it is group-writable and the user is in its group).'
      : code === 'ENOSPC' || code === 'EDQUOT'
        ? 'The disk or quota is full: free space, lower maxBytes, or run `phys cache gc`.'
        : code === 'EROFS'
          ? 'The file system is read-only: point the cache at a writable directory.'
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
 * Creates `dir` and its missing parents. With `mode`, every directory created here gets exactly
 * that mode (chmod after mkdir: mkdir applies the umask and drops the setgid bit).
 */
export function ensureDirSync(dir: string, mode: number | undefined): void {
  const first = fs.mkdirSync(dir, { recursive: true, ...(mode === undefined ? {} : { mode }) });
  if (first !== undefined && mode !== undefined) {
    for (const created of createdChain(first, dir)) chmodQuiet(created, mode);
  }
}

/** Async {@link ensureDirSync}. */
export async function ensureDir(dir: string, mode: number | undefined): Promise<void> {
  const first = await fs.promises.mkdir(dir, {
    recursive: true,
    ...(mode === undefined ? {} : { mode }),
  });
  if (first !== undefined && mode !== undefined) {
    for (const created of createdChain(first, dir)) {
      await fs.promises.chmod(created, mode).catch(() => {});
    }
  }
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
export async function fsyncPath(path: string): Promise<void> {
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

// The entry files on disk: `<dir>/v1/<name[0:2]>/<name>`, one file per entry. Writes go to a
// temporary file in the same shard directory and are renamed into place; reads verify the
// header, the stored key and the checksum trailer, and report anything else as corrupt; a
// corrupt file is moved to `<dir>/quarantine/`. Nothing here counts or caches: DiskCache does.

import { hash as sha } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { PhysError, UsageError } from '@phys/core';
import {
  buildEntryParts,
  checksumMatches,
  type EntryLayout,
  type EntryMetadata,
  keyBytesOf,
  keyOf,
  MAX_KEY_BYTES,
  metadataOf,
  parseLayout,
  resultOf,
} from './entry-file.js';
import {
  closeAsync,
  closeQuietly,
  ensureDir,
  ensureDirSync,
  fchmodAsync,
  fstatAsync,
  fsyncAsync,
  fsyncPath,
  inBatches,
  ioError,
  isMissing,
  isOutOfDescriptors,
  isRealDir,
  isRealDirSync,
  isSymlinkRefused,
  openWaiting,
  READ_NOFOLLOW,
  readFullyAsync,
  readFullySync,
  retryOutOfDescriptors,
  uniqueSuffix,
  unsafeError,
  withDescriptor,
  writeFullyAsync,
  writeFullySync,
} from './fs-util.js';

/** What reading an entry file found. */
export type ReadOutcome =
  | { readonly kind: 'miss' }
  | { readonly kind: 'ok'; readonly buf: Buffer; readonly layout: EntryLayout }
  | { readonly kind: 'corrupt'; readonly ino: number | undefined; readonly why: string };

/** A file a directory scan found. */
export interface ScannedFile {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** Entry files and temporary files of writers, as a scan found them. */
export interface Scan {
  readonly entries: ScannedFile[];
  readonly temps: ScannedFile[];
  /** Symbolic links where `v1/`, a shard directory or an entry should be (never followed). */
  readonly links: string[];
}

/** An entry file's header, read without its payload (and without verifying it). */
export interface EntryHeader {
  readonly key: string;
  readonly size: number;
  readonly mtime: Date;
  readonly meta: EntryMetadata;
}

/** How a {@link ShardStore} writes. */
export interface ShardStoreOptions {
  /** Entries up to this many bytes use synchronous system calls; 0: all asynchronous. */
  readonly syncIoMaxBytes: number;
  /** fsync each file and its directory before a write returns. */
  readonly fsyncOnWrite: boolean;
  readonly fileMode: number | undefined;
  readonly dirMode: number | undefined;
}

const LAYOUT_DIR = 'v1';
const QUARANTINE_DIR = 'quarantine';
const FIRST_READ = 64 * 1024;
const WRITE_CHUNK = 16 * 1024 * 1024;
const HEX_KEY = /^[0-9a-f]{16,128}$/;
const ENTRY_NAME = /^(?:[0-9a-f]{16,128}|~[0-9a-f]{64})$/;

// Shared by every synchronous read: it is filled and copied out without yielding in between.
const scratch = Buffer.allocUnsafeSlow(FIRST_READ);

/** Rejects what cannot be a key. */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new UsageError(
      `Cache keys are non-empty strings of at most ${MAX_KEY_BYTES} UTF-8 bytes, got ${typeof key === 'string' ? (key === '' ? 'an empty string' : `${Buffer.byteLength(key)} bytes`) : typeof key}.`,
    );
  }
}

/** On-disk file name of a key: hex keys as they are, anything else by its SHA-256. */
export function fileNameOf(key: string): string {
  return HEX_KEY.test(key) ? key : `~${sha('sha256', key, 'hex')}`;
}

function shardOf(name: string): string {
  return name.charCodeAt(0) === 0x7e ? name.slice(1, 3) : name.slice(0, 2);
}

/** Whether a file name in a shard directory is an entry's. */
export function isEntryName(name: string): boolean {
  return ENTRY_NAME.test(name);
}

function isTempName(name: string): boolean {
  return name.charCodeAt(0) === 0x2e && name.endsWith('.tmp');
}

/** The entry files of one cache directory. */
export class ShardStore {
  readonly #dir: string;
  readonly #root: string;
  readonly #quarantineDir: string;
  readonly #syncMax: number;
  readonly #fsync: boolean;
  readonly #fileMode: number | undefined;
  readonly #dirMode: number | undefined;
  // Shard directories found to be real directories, not symbolic links (reads check once; writes
  // and deletes check again every time).
  readonly #shards = new Set<string>();

  constructor(dir: string, options: ShardStoreOptions) {
    this.#dir = dir;
    this.#root = join(dir, LAYOUT_DIR);
    this.#quarantineDir = join(dir, QUARANTINE_DIR);
    this.#syncMax = options.syncIoMaxBytes;
    this.#fsync = options.fsyncOnWrite;
    this.#fileMode = options.fileMode;
    this.#dirMode = options.dirMode;
  }

  /** Path of the file called `name` (see {@link fileNameOf}), joined as the platform does. */
  pathOf(name: string): string {
    return join(this.#root, shardOf(name), name);
  }

  /** Shard directory and path of the file called `name` (the hot path: no normalising). */
  locate(name: string): { readonly shardDir: string; readonly path: string } {
    const shardDir = `${this.#root}/${shardOf(name)}`;
    return { shardDir, path: `${shardDir}/${name}` };
  }

  // ---- no symbolic links inside the cache ---------------------------------------------------
  //
  // The cache directory itself may be a link (a user's choice of where the cache lives), but
  // nothing inside it is followed: `v1/`, the shard directories and `quarantine/` must be real
  // directories (lstat), and entry files are opened with O_NOFOLLOW. Node has no openat(), so a
  // link swapped in between the check and the use is not excluded; the checks close the
  // standing hole (a planted link that every later write, `clear` and `gc` would follow).

  /** The directories from the cache directory down to `dir` (a shard, or quarantine/). */
  #chain(dir: string): readonly string[] {
    return dir === this.#quarantineDir ? [dir] : [this.#root, dir];
  }

  /**
   * Whether `dir` and the directories above it inside the cache are real directories: true; one
   * is missing: false; one is a symbolic link (or a file): PHYS_CACHE_DISK_UNSAFE.
   */
  #realDirsSync(dir: string, what: string): boolean {
    for (const d of this.#chain(dir)) {
      let real: boolean | undefined;
      try {
        real = isRealDirSync(d);
      } catch (error) {
        throw ioError('inspect', d, error);
      }
      if (real === undefined) return false;
      if (!real) throw unsafeError(what, d);
    }
    if (dir !== this.#quarantineDir) this.#shards.add(dir);
    return true;
  }

  /** Async {@link ShardStore.#realDirsSync}. */
  async #realDirs(dir: string, what: string): Promise<boolean> {
    for (const d of this.#chain(dir)) {
      let real: boolean | undefined;
      try {
        real = await isRealDir(d);
      } catch (error) {
        throw ioError('inspect', d, error);
      }
      if (real === undefined) return false;
      if (!real) throw unsafeError(what, d);
    }
    if (dir !== this.#quarantineDir) this.#shards.add(dir);
    return true;
  }

  /**
   * Symbolic links directly in the cache directory (`v1`, `quarantine`, `locks`, ...) and in
   * `quarantine/`: what the cache refuses to use. Shards are checked by {@link ShardStore.scan}.
   */
  async topLevelLinks(): Promise<string[]> {
    const links: string[] = [];
    const inDir = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await retryOutOfDescriptors(() => fs.promises.readdir(dir));
      } catch (error) {
        if (isMissing(error)) return;
        throw ioError('list', dir, error);
      }
      await inBatches(names, async (name) => {
        const path = `${dir}/${name}`;
        try {
          if ((await fs.promises.lstat(path)).isSymbolicLink()) links.push(path);
        } catch {}
      });
    };
    await inDir(this.#dir);
    if ((await isRealDir(this.#quarantineDir).catch(() => false)) === true) {
      await inDir(this.#quarantineDir);
    }
    return links.sort();
  }

  // ---- reading --------------------------------------------------------------------------------

  /**
   * Reads and verifies the entry file at `path`: it must store `key` (or, without `key`, a key
   * whose file name is `name`) and match its checksum. Throws PHYS_CACHE_DISK_UNSAFE when the
   * entry or its shard directory is a symbolic link.
   */
  async read(
    path: string,
    name: string,
    key: string | undefined,
    forceAsync = false,
  ): Promise<ReadOutcome> {
    const sync = this.#syncMax > 0 && !forceAsync;
    const shard = this.#shardForRead(path, sync);
    if (shard !== true && !(await shard)) return { kind: 'miss' };
    if (sync) {
      // Opened, read and closed without yielding: however many reads are under way, a
      // synchronous one holds no descriptor across an await.
      const outcome = this.#readSync(path, name, key);
      if (outcome !== undefined) return outcome;
    }
    return withDescriptor(() => this.#readAsync(path, name, key));
  }

  /**
   * A whole synchronous read; undefined when it has to be asynchronous instead (the entry is
   * larger than `syncIoMaxBytes`, or the process is out of descriptors right now).
   */
  #readSync(path: string, name: string, key: string | undefined): ReadOutcome | undefined {
    let fd: number;
    try {
      fd = fs.openSync(path, READ_NOFOLLOW);
    } catch (error) {
      if (isMissing(error)) return { kind: 'miss' };
      if (isOutOfDescriptors(error)) return undefined;
      if (isSymlinkRefused(error)) throw unsafeError('read a cache entry', path);
      throw ioError('open cache entry', path, error);
    }
    try {
      const n = readFullySync(fd, scratch, 0, FIRST_READ, 0);
      const layout = parseLayout(scratch.subarray(0, n));
      let outcome: ReadOutcome;
      if (layout === undefined) outcome = { kind: 'corrupt', ino: undefined, why: 'bad header' };
      else if (layout.total <= n) {
        if (n > layout.total) outcome = { kind: 'corrupt', ino: undefined, why: 'trailing bytes' };
        else {
          // A fresh, exactly sized buffer: 8-aligned, so the payload's typed arrays are views.
          const buf = Buffer.allocUnsafeSlow(layout.total);
          scratch.copy(buf, 0, 0, n);
          outcome = { kind: 'ok', buf, layout };
        }
      } else if (n < FIRST_READ) outcome = { kind: 'corrupt', ino: undefined, why: 'truncated' };
      else if (layout.total > this.#syncMax) return undefined;
      else {
        const buf = Buffer.allocUnsafeSlow(layout.total);
        scratch.copy(buf, 0, 0, n);
        outcome = readRestSync(fd, buf, layout, n);
      }
      outcome = checked(outcome, name, key);
      if (outcome.kind === 'corrupt') {
        outcome = { kind: 'corrupt', ino: fs.fstatSync(fd).ino, why: outcome.why };
      }
      return outcome;
    } catch (error) {
      throw ioError('read cache entry', path, error);
    } finally {
      closeQuietly(fd, true);
    }
  }

  async #readAsync(path: string, name: string, key: string | undefined): Promise<ReadOutcome> {
    let fd: number;
    try {
      fd = await openWaiting(path, READ_NOFOLLOW);
    } catch (error) {
      if (isMissing(error)) return { kind: 'miss' };
      if (isSymlinkRefused(error)) throw unsafeError('read a cache entry', path);
      throw ioError('open cache entry', path, error);
    }
    try {
      let outcome = checked(await readOpen(fd, Buffer.allocUnsafe(FIRST_READ)), name, key);
      if (outcome.kind === 'corrupt') {
        outcome = { kind: 'corrupt', ino: (await fstatAsync(fd)).ino, why: outcome.why };
      }
      return outcome;
    } catch (error) {
      throw ioError('read cache entry', path, error);
    } finally {
      await closeAsync(fd).catch(() => {});
    }
  }

  /**
   * Whether the small entry file at `path` is intact and stores the same key and result as
   * `file` (provenance and metadata may differ).
   */
  holdsSameResult(path: string, file: Buffer): boolean {
    if (file.length > FIRST_READ) return false;
    let fd: number;
    try {
      fd = fs.openSync(path, READ_NOFOLLOW);
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

  /** The header of the entry file at `path` if it is one, stored under the name `name`. */
  readHeader(path: string, name: string): Promise<EntryHeader | undefined> {
    return withDescriptor(async () => {
      let fd: number;
      try {
        fd = await openWaiting(path, READ_NOFOLLOW);
      } catch (error) {
        if (isMissing(error) || isSymlinkRefused(error)) return undefined;
        throw ioError('open cache entry', path, error);
      }
      try {
        const st = await fstatAsync(fd);
        if (!st.isFile()) return undefined;
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
        return { key, size: st.size, mtime: st.mtime, meta };
      } catch (error) {
        throw ioError('read cache entry', path, error);
      } finally {
        await closeAsync(fd).catch(() => {});
      }
    });
  }

  /**
   * Whether the shard directory of the entry at `path` exists (false), checked once per shard to
   * be a real directory (PHYS_CACHE_DISK_UNSAFE when it is a link).
   */
  #shardForRead(path: string, sync: boolean): boolean | Promise<boolean> {
    const shardDir = path.slice(0, path.lastIndexOf('/'));
    if (this.#shards.has(shardDir)) return true;
    return sync
      ? this.#realDirsSync(shardDir, 'read a cache entry')
      : this.#realDirs(shardDir, 'read a cache entry');
  }

  /** Whether an entry file (not a link) exists at `path`. */
  async exists(path: string): Promise<boolean> {
    const shard = this.#shardForRead(path, this.#syncMax > 0);
    if (shard !== true && !(await shard)) return false;
    try {
      const st = this.#syncMax > 0 ? fs.lstatSync(path) : await fs.promises.lstat(path);
      return st.isFile();
    } catch {
      return false;
    }
  }

  // ---- writing --------------------------------------------------------------------------------

  /** Makes sure `shardDir` is a real directory, creating it if missing (synchronous calls). */
  #shardForWriteSync(shardDir: string): void {
    if (this.#realDirsSync(shardDir, 'write a cache entry')) return;
    try {
      ensureDirSync(shardDir, this.#dirMode);
    } catch (error) {
      throw ioError('create directory', shardDir, error);
    }
    // Check what was made (another process may have won the mkdir).
    this.#realDirsSync(shardDir, 'write a cache entry');
  }

  /** Async {@link ShardStore.#shardForWriteSync}. */
  async #shardForWrite(shardDir: string): Promise<void> {
    if (await this.#realDirs(shardDir, 'write a cache entry')) return;
    try {
      await ensureDir(shardDir, this.#dirMode);
    } catch (error) {
      throw ioError('create directory', shardDir, error);
    }
    await this.#realDirs(shardDir, 'write a cache entry');
  }

  /**
   * Writes a whole small entry file with synchronous calls and renames it to `path`; false when
   * the process is out of descriptors right now (then {@link ShardStore.writeAsync} waits for
   * one).
   */
  writeSync(shardDir: string, path: string, name: string, file: Buffer): boolean {
    this.#shardForWriteSync(shardDir);
    const tmp = tempPath(shardDir, name);
    const mode = this.#fileMode ?? 0o666;
    let fd: number;
    try {
      fd = fs.openSync(tmp, 'wx', mode);
    } catch (error) {
      if (isOutOfDescriptors(error)) return false;
      if (!isMissing(error)) throw ioError('create', tmp, error);
      // The shard directory went away (cleared by another process): make it again.
      this.#shardForWriteSync(shardDir);
      try {
        fd = fs.openSync(tmp, 'wx', mode);
      } catch (again) {
        if (isOutOfDescriptors(again)) return false;
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
    return true;
  }

  /**
   * Writes an entry file asynchronously, the sections in slices and without copying them, and
   * renames it to `path`; returns its size.
   */
  async writeAsync(
    shardDir: string,
    path: string,
    name: string,
    key: Buffer,
    meta: Buffer,
    result: Uint8Array,
    provenance: Uint8Array,
  ): Promise<number> {
    const { head, gap, trailer, total } = buildEntryParts(key, meta, result, provenance);
    await this.#shardForWrite(shardDir);
    const tmp = tempPath(shardDir, name);
    const mode = this.#fileMode ?? 0o666;
    await withDescriptor(async () => {
      let fd: number;
      try {
        fd = await openWaiting(tmp, 'wx', mode);
      } catch (error) {
        if (!isMissing(error)) throw ioError('create', tmp, error);
        await this.#shardForWrite(shardDir);
        try {
          fd = await openWaiting(tmp, 'wx', mode);
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
        if (this.#fsync) await fsyncAsync(fd);
        await closeAsync(fd);
      } catch (error) {
        closeQuietly(fd, false);
        await fs.promises.unlink(tmp).catch(() => {});
        throw ioError('write cache entry', path, error);
      }
    });
    try {
      await fs.promises.rename(tmp, path);
      if (this.#fsync) await fsyncPath(shardDir);
    } catch (error) {
      await fs.promises.unlink(tmp).catch(() => {});
      throw ioError('publish cache entry', path, error);
    }
    return total;
  }

  /**
   * Removes the file at `path` (an entry, a temporary file, or a file in quarantine/); false
   * when there was none. Its directory must be a real one (PHYS_CACHE_DISK_UNSAFE otherwise).
   */
  async unlink(path: string): Promise<boolean> {
    const dir = path.slice(0, path.lastIndexOf('/'));
    try {
      if (this.#syncMax > 0) {
        if (!this.#realDirsSync(dir, 'delete')) return false;
        fs.unlinkSync(path);
      } else {
        if (!(await this.#realDirs(dir, 'delete'))) return false;
        await fs.promises.unlink(path);
      }
      return true;
    } catch (error) {
      if (PhysError.is(error)) throw error;
      if (isMissing(error)) return false;
      throw ioError('remove', path, error);
    }
  }

  /**
   * Moves a bad entry aside, unless the path now holds a different file than the inode `ino`
   * that was judged (a fresh write). Never fails: a file that cannot be moved (permissions, or
   * a `quarantine/` that is a symbolic link) stays where it is, a miss on every read.
   */
  async quarantine(path: string, name: string, ino: number | undefined): Promise<void> {
    try {
      if (ino !== undefined && (await fs.promises.lstat(path)).ino !== ino) return;
      if (!(await this.#realDirs(this.#quarantineDir, 'quarantine an entry'))) {
        await ensureDir(this.#quarantineDir, this.#dirMode);
        if (!(await this.#realDirs(this.#quarantineDir, 'quarantine an entry'))) return;
      }
      const aside = `${this.#quarantineDir}/${name}.${Date.now()}.${uniqueSuffix()}`;
      await fs.promises.rename(path, aside);
    } catch {
      // Gone meanwhile, cannot be moved, or quarantine/ is unsafe: it stays a miss.
    }
  }

  // ---- listing --------------------------------------------------------------------------------

  /** The shard directories' names, and the links found where `v1/` or a shard should be. */
  async #shardNames(links: string[] | undefined): Promise<string[]> {
    const real = await isRealDir(this.#root).catch((error: unknown) => {
      throw ioError('inspect', this.#root, error);
    });
    if (real === undefined) return [];
    if (!real) {
      links?.push(this.#root);
      return [];
    }
    let names: string[];
    try {
      names = await retryOutOfDescriptors(() => fs.promises.readdir(this.#root));
    } catch (error) {
      if (isMissing(error)) return [];
      throw ioError('list', this.#root, error);
    }
    return names.filter((n) => /^[0-9a-f]{2}$/.test(n)).sort();
  }

  /**
   * Each shard directory with the names in it (a shard removed meanwhile is skipped, and so is
   * one that is a symbolic link: added to `links`).
   */
  async *shardListings(links?: string[]): AsyncGenerator<{ shardDir: string; names: string[] }> {
    for (const shard of await this.#shardNames(links)) {
      const shardDir = `${this.#root}/${shard}`;
      let names: string[];
      try {
        if (!(await this.#realDirs(shardDir, 'list'))) continue;
        names = await retryOutOfDescriptors(() => fs.promises.readdir(shardDir));
      } catch (error) {
        if (PhysError.is(error) && error.code === 'PHYS_CACHE_DISK_UNSAFE') {
          links?.push(shardDir);
          continue;
        }
        if (isMissing(error)) continue;
        throw ioError('list', shardDir, error);
      }
      yield { shardDir, names };
    }
  }

  /** Entry files and temporary files, with sizes and mtimes; and the links found on the way. */
  async scan(): Promise<Scan> {
    const entries: ScannedFile[] = [];
    const temps: ScannedFile[] = [];
    const links: string[] = [];
    for await (const { shardDir, names } of this.shardListings(links)) {
      const wanted = names.filter((n) => ENTRY_NAME.test(n) || isTempName(n));
      await inBatches(wanted, async (name) => {
        const path = `${shardDir}/${name}`;
        try {
          const st = await fs.promises.lstat(path);
          if (st.isSymbolicLink()) links.push(path);
          if (!st.isFile()) return;
          const file = { name, path, size: st.size, mtimeMs: st.mtimeMs };
          (isTempName(name) ? temps : entries).push(file);
        } catch (error) {
          if (!isMissing(error)) throw ioError('stat', path, error);
        }
      });
    }
    return { entries, temps, links };
  }

  /** The files in `quarantine/` (none when it is a symbolic link: its files are not ours). */
  async quarantined(): Promise<ScannedFile[]> {
    let names: string[];
    try {
      if (!(await this.#realDirs(this.#quarantineDir, 'list'))) return [];
      names = await retryOutOfDescriptors(() => fs.promises.readdir(this.#quarantineDir));
    } catch (error) {
      if (PhysError.is(error) && error.code === 'PHYS_CACHE_DISK_UNSAFE') return [];
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
}

/** `outcome`, or corrupt when the entry it read stores another key than `key` (or `name`). */
function checked(outcome: ReadOutcome, name: string, key: string | undefined): ReadOutcome {
  if (outcome.kind !== 'ok') return outcome;
  const { buf, layout } = outcome;
  const stored = keyOf(buf, layout);
  const matches = key === undefined ? fileNameOf(stored) === name : stored === key;
  if (!matches) return { kind: 'corrupt', ino: undefined, why: 'key mismatch' };
  if (!checksumMatches(buf, layout)) {
    return { kind: 'corrupt', ino: undefined, why: 'checksum mismatch' };
  }
  return outcome;
}

function tempPath(shardDir: string, name: string): string {
  return `${shardDir}/.${name}.${uniqueSuffix()}.tmp`;
}

/** Reads the rest of a large entry into `buf` (which holds its first `have` bytes). */
async function readRest(
  fd: number,
  buf: Buffer,
  layout: EntryLayout,
  have: number,
): Promise<ReadOutcome> {
  const want = layout.total - have;
  const n = await readFullyAsync(fd, buf, have, want, have);
  if (n < want) return { kind: 'corrupt', ino: undefined, why: 'truncated' };
  const extra = await readFullyAsync(fd, Buffer.allocUnsafe(1), 0, 1, layout.total);
  if (extra > 0) return { kind: 'corrupt', ino: undefined, why: 'trailing bytes' };
  return { kind: 'ok', buf, layout };
}

/** {@link readRest} with synchronous calls. */
function readRestSync(fd: number, buf: Buffer, layout: EntryLayout, have: number): ReadOutcome {
  const want = layout.total - have;
  const n = readFullySync(fd, buf, have, want, have);
  if (n < want) return { kind: 'corrupt', ino: undefined, why: 'truncated' };
  const extra = readFullySync(fd, Buffer.allocUnsafe(1), 0, 1, layout.total);
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
  return readRest(fd, buf, layout, n);
}

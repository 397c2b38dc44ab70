// The entry files on disk: `<dir>/v1/<name[0:2]>/<name>`, one file per entry. Writes go to a
// temporary file in the same shard directory and are renamed into place; reads verify the
// header, the stored key and the checksum trailer, and report anything else as corrupt; a
// corrupt file is moved to `<dir>/quarantine/`. Nothing here counts or caches: DiskCache does.

import { hash as sha } from 'node:crypto';
import fs from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '@phys/core';
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
  openAsync,
  readFullyAsync,
  readFullySync,
  uniqueSuffix,
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
  readonly #root: string;
  readonly #quarantineDir: string;
  readonly #syncMax: number;
  readonly #fsync: boolean;
  readonly #fileMode: number | undefined;
  readonly #dirMode: number | undefined;
  // Shard directories known to exist (so a write needs no mkdir).
  readonly #shards = new Set<string>();

  constructor(dir: string, options: ShardStoreOptions) {
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

  // ---- reading --------------------------------------------------------------------------------

  /**
   * Reads and verifies the entry file at `path`: it must store `key` (or, without `key`, a key
   * whose file name is `name`) and match its checksum.
   */
  async read(
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

  /**
   * Whether the small entry file at `path` is intact and stores the same key and result as
   * `file` (provenance and metadata may differ).
   */
  holdsSameResult(path: string, file: Buffer): boolean {
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

  /** The header of the entry file at `path` if it is one, stored under the name `name`. */
  async readHeader(path: string, name: string): Promise<EntryHeader | undefined> {
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
      return { key, size: st.size, mtime: st.mtime, meta };
    } catch (error) {
      throw ioError('read cache entry', path, error);
    } finally {
      closeQuietly(fd, false);
    }
  }

  /** Whether a file exists at `path`. */
  async exists(path: string): Promise<boolean> {
    if (this.#syncMax > 0) return fs.existsSync(path);
    try {
      await fs.promises.access(path);
      return true;
    } catch {
      return false;
    }
  }

  // ---- writing --------------------------------------------------------------------------------

  /** Writes a whole small entry file with synchronous calls and renames it to `path`. */
  writeSync(shardDir: string, path: string, name: string, file: Buffer): void {
    if (!this.#shards.has(shardDir)) {
      this.#mkdirSync(shardDir);
    }
    const tmp = tempPath(shardDir, name);
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
    if (!this.#shards.has(shardDir)) await this.#mkdir(shardDir);
    const tmp = tempPath(shardDir, name);
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
      if (this.#fsync) await fsyncAsync(fd);
      await closeAsync(fd);
    } catch (error) {
      closeQuietly(fd, false);
      await fs.promises.unlink(tmp).catch(() => {});
      throw ioError('write cache entry', path, error);
    }
    try {
      await fs.promises.rename(tmp, path);
      if (this.#fsync) await fsyncPath(shardDir);
    } catch (error) {
      await fs.promises.unlink(tmp).catch(() => {});
      throw ioError('publish cache entry', path, error);
    }
    return total;
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

  /** Removes the file at `path`; false when there was none. */
  async unlink(path: string): Promise<boolean> {
    try {
      if (this.#syncMax > 0) fs.unlinkSync(path);
      else await fs.promises.unlink(path);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw ioError('remove', path, error);
    }
  }

  /**
   * Moves a bad entry aside, unless the path now holds a different file than the inode `ino`
   * that was judged (a fresh write). Never fails: a file that cannot be moved stays a miss.
   */
  async quarantine(path: string, name: string, ino: number | undefined): Promise<void> {
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

  // ---- listing --------------------------------------------------------------------------------

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
  async *shardListings(): AsyncGenerator<{ shardDir: string; names: string[] }> {
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
  async scan(): Promise<Scan> {
    const entries: ScannedFile[] = [];
    const temps: ScannedFile[] = [];
    for await (const { shardDir, names } of this.shardListings()) {
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

  /** The files in `quarantine/`. */
  async quarantined(): Promise<ScannedFile[]> {
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

import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, open } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { PhysError } from '@phys/core';

const SAFE_NAME = /^[A-Za-z0-9._-]{1,80}$/;
// Enough for the last lines of any sane log; a job that printed gigabytes is never read whole.
const TAIL_WINDOW_BYTES = 64 * 1024;

/**
 * A file-name form of an id (a run id, a node id) for job directories on any filesystem and in
 * any job script: kept as is when it is short and made of letters, digits, `.`, `_` and `-`;
 * otherwise the other characters become `_`, it is cut to 60 characters, and a short hash of
 * the whole id keeps distinct ids apart.
 * @public
 */
export function safeFileName(id: string): string {
  if (SAFE_NAME.test(id) && id !== '.' && id !== '..') return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}-${hash}`;
}

/** Options of {@link logTail}. @public */
export interface LogTailOptions {
  /** Lines to keep (default 20). */
  readonly lines?: number;
  /** Characters to keep at most, counted from the end (default 4000). */
  readonly maxChars?: number;
}

/**
 * The last lines of a job's log, for error messages; empty when the file is missing or empty.
 * Only the end of the file is read, however large it grew.
 * @public
 */
export async function logTail(file: string, options: LogTailOptions = {}): Promise<string> {
  const { lines = 20, maxChars = 4000 } = options;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, TAIL_WINDOW_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    const firstBreak = text.indexOf('\n');
    // A window that starts mid-file starts mid-line (maybe mid-character): drop that fragment.
    if (length < size && firstBreak >= 0) text = text.slice(firstBreak + 1);
    const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
    return tail.length > maxChars ? tail.slice(-maxChars) : tail;
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

/**
 * The default base of a user's local work directories: `<tmp>/phys-<uid>` (`phys-<user name>`
 * where the system has no uids). One per user, so that users of one login node never share one;
 * {@link ensurePrivateDir} creates it private.
 * @public
 */
export function userWorkRoot(): string {
  const uid = process.getuid?.();
  return join(tmpdir(), `phys-${uid ?? safeFileName(userInfo().username)}`);
}

/** What {@link privateDirProblem} looks at: an `lstat` of the directory (`fs.Stats`). @public */
export interface PrivateDirStats {
  /** The owner's user id. */
  readonly uid: number;
  /** Type and permission bits. */
  readonly mode: number;
  /** Whether it is a directory (false for a symbolic link to one: lstat). */
  isDirectory(): boolean;
  /** Whether it is a symbolic link. */
  isSymbolicLink(): boolean;
}

/**
 * Why a directory (its `lstat`) is not safe as user `uid`'s private work directory, or undefined
 * when it is: a symbolic link (it could lead anywhere), not a directory, owned by another user,
 * or writable by others. `uid` undefined (no uids on this system) checks the first two only.
 * @public
 */
export function privateDirProblem(
  stats: PrivateDirStats,
  uid: number | undefined,
): string | undefined {
  if (stats.isSymbolicLink()) return 'it is a symbolic link';
  if (!stats.isDirectory()) return 'it is not a directory';
  if (uid === undefined) return undefined;
  if (stats.uid !== uid) return `it belongs to another user (uid ${stats.uid}; you are uid ${uid})`;
  if ((stats.mode & 0o022) !== 0) {
    return `other users can write to it (mode ${(stats.mode & 0o777).toString(8).padStart(3, '0')})`;
  }
  return undefined;
}

/** Options of {@link ensurePrivateDir}. @public */
export interface EnsurePrivateDirOptions {
  /** How to choose another directory, for the error message (e.g. the option that sets it). */
  readonly elsewhere?: string;
}

/**
 * Creates `dir` private to this user (mode 0700), or checks that the one already there is (see
 * {@link privateDirProblem}), before anything is written into it: on a shared machine another
 * user could otherwise read, or redirect through a planted symbolic link, the task envelopes and
 * logs written there. Rejects with `PHYS_WORKDIR_UNSAFE`, writing nothing, when it is not safe,
 * and with `PHYS_WORKDIR_UNUSABLE` when it cannot be created.
 * @public
 */
export async function ensurePrivateDir(
  dir: string,
  options: EnsurePrivateDirOptions = {},
): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      await mkdir(dirname(dir), { recursive: true }).catch(() => undefined);
      try {
        await mkdir(dir, { mode: 0o700 });
      } catch (again) {
        if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw unusable(dir, again, options);
      }
    } else if (code !== 'EEXIST') {
      throw unusable(dir, error, options);
    }
  }
  let stats: PrivateDirStats;
  try {
    stats = await lstat(dir);
  } catch (error) {
    throw unusable(dir, error, options);
  }
  const why = privateDirProblem(stats, process.getuid?.());
  if (why !== undefined) {
    throw new PhysError(
      'PHYS_WORKDIR_UNSAFE',
      `The work directory ${dir} is not safe to use: ${why}. Another user could read the task envelopes and logs written there, or redirect them. If it is yours, remove it and phys creates it again, private to you; or ${options.elsewhere ?? 'choose another work directory'}.`,
      { details: { workDir: dir, problem: why } },
    );
  }
  // The umask may have taken bits off a new directory's mode; one of ours that others can read
  // (made by hand) is closed: exactly 0700 either way.
  if ((stats.mode & 0o777) !== 0o700 && process.getuid !== undefined) {
    try {
      await chmod(dir, 0o700);
    } catch (error) {
      throw unusable(dir, error, options);
    }
  }
}

function unusable(dir: string, error: unknown, options: EnsurePrivateDirOptions): PhysError {
  return new PhysError(
    'PHYS_WORKDIR_UNUSABLE',
    `Cannot create the work directory ${dir}: ${error instanceof Error ? error.message : String(error)}. Check that its parent is writable, or ${options.elsewhere ?? 'choose another work directory'}.`,
    { cause: error, details: { workDir: dir } },
  );
}

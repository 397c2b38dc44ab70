import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

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

import { PhysError, UsageError } from '@phys/core';

/** How many runs a list returns by default, and at most. */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;

/** `PHYS_RUN_NOT_FOUND` for job id `jobId`. */
export function runNotFound(jobId: string): PhysError {
  return new PhysError(
    'PHYS_RUN_NOT_FOUND',
    `No run has job id '${jobId}'. List the runs there are with \`phys runs ls\` (or listRuns()).`,
    { details: { jobId } },
  );
}

/** The page size of a list: 1 to 500 runs, 50 when not given. */
export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new UsageError(
      `A run list takes a limit from 1 to ${MAX_LIST_LIMIT}, got ${String(limit)}.`,
      { details: { limit } },
    );
  }
  return limit;
}

/** An opaque cursor for a position in the store's own order. */
export function encodeCursor(position: number): string {
  return Buffer.from(`r${position}`, 'utf8').toString('base64url');
}

/** The position of a cursor from {@link encodeCursor}; `PHYS_USAGE` for anything else. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const position = /^r(\d{1,15})$/.exec(text)?.[1];
  if (position === undefined) {
    throw new UsageError(
      `'${cursor}' is not a cursor of this run list. Pass the nextCursor of the previous page unchanged, or leave it out to start from the newest run.`,
      { details: { cursor } },
    );
  }
  return Number(position);
}

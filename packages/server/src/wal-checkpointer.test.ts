// The run store's checkpoints on a thread of their own: real SQLite files in a temp dir, real
// worker threads, another process reading the file.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '@phys/core';
import { recordingLogger } from '@phys/testing';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRunStore, walCheckpointerOf } from './sqlite-run-store.js';
import { HARD_LIMIT_FACTOR, type WalCheckpointer } from './wal-checkpointer.js';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-wal-checkpointer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const freshFile = (): string => join(dir, `runs-${++n}.sqlite`);

/** A small threshold, so that a few thousand commits cross it many times over. */
const PAGES = 16;
/** A frame of the log: a 4 KiB page and its 24-byte header. */
const FRAME = 4096 + 24;
/**
 * The largest log a store with PAGES may leave in its file: commits are held once it reaches
 * twice its hard limit, whatever the thread is doing; a third for the last commit, with room to
 * spare. Without checkpoints the tests below would leave thousands of pages in it.
 */
const WAL_BOUND = 32 + 3 * HARD_LIMIT_FACTOR * PAGES * FRAME;

const record = (jobId: string): RunRecord => ({
  jobId,
  pipeline: 'scan',
  status: 'QUEUED',
  params: { notes: 'n'.repeat(1000) },
  priority: 0,
  trigger: { kind: 'api' },
  attempt: 0,
  maxAttempts: 1,
  submittedAt: '2026-01-01T00:00:00.000Z',
});
const at = '2026-01-01T00:00:00.000Z';
const queued = { at, type: 'status', status: 'QUEUED', attempt: 0 } as const;
const running = { at, type: 'status', status: 'RUNNING', attempt: 1 } as const;

/** `count` runs inserted then started by 8 concurrent writers: a steady stream of commits. */
async function writeRuns(store: SqliteRunStore, prefix: string, count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = next++; i < count; i = next++) {
        await store.insert(record(`${prefix}-${i}`), queued);
        await store.update(`${prefix}-${i}`, { status: 'RUNNING', attempt: 1 }, [running]);
      }
    }),
  );
}

const sizeOf = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

function checkpointerOf(store: SqliteRunStore): WalCheckpointer {
  const checkpointer = walCheckpointerOf(store);
  if (checkpointer === undefined) throw new Error('this SQLite has no checkpointer');
  return checkpointer;
}

/** Writes batches of runs until `done` (a few hundred batches at most). */
async function writeUntil(
  store: SqliteRunStore,
  prefix: string,
  what: string,
  done: () => boolean,
): Promise<void> {
  for (let round = 0; round < 500 && !done(); round++) {
    await writeRuns(store, `${prefix}${round}`, 10);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!done()) throw new Error(`still waiting for ${what}`);
}

/** Job ids of the runs in `file`, read by another process. */
function jobIdsSeenByAnotherProcess(file: string): string[] {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `
    const Database = require(${JSON.stringify(sqlite)});
    const db = new Database(${JSON.stringify(file)}, { readonly: true, fileMustExist: true });
    const ids = db.prepare('SELECT job_id FROM runs ORDER BY job_id').pluck().all();
    db.close();
    process.stdout.write(JSON.stringify(ids));
  `;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

describe('SqliteRunStore checkpoints on a thread', () => {
  it('keeps the log bounded under a steady stream of commits, the database growing meanwhile', async () => {
    const file = freshFile();
    const store = new SqliteRunStore(file, { walCheckpointPages: PAGES });
    const checkpointer = checkpointerOf(store);
    // Until the thread is up (it starts with the first write) and checkpointed once.
    await writeUntil(store, 'warm', 'a first checkpoint', () => checkpointer.stats.PASSIVE > 0);
    const warm = (await store.counts()).RUNNING;
    const dbBefore = sizeOf(file);
    // The log's file is opened once, for the store's own syncs (FULL): it must stay the same file
    // while SQLite starts the log over again and again.
    const walInode = statSync(`${file}-wal`).ino;
    let largestWal = 0;
    for (let round = 0; round < 10; round++) {
      await writeRuns(store, `r${round}`, 200);
      largestWal = Math.max(largestWal, sizeOf(`${file}-wal`));
    }
    // 4,000 commits of a few pages each: without checkpoints the log would hold thousands of
    // pages; the database file grew, which only a checkpoint writes (the store's own connection
    // has automatic checkpoints off).
    expect(largestWal).toBeLessThanOrEqual(WAL_BOUND);
    expect(sizeOf(file)).toBeGreaterThan(dbBefore + 100 * FRAME);
    expect(checkpointer.stats.PASSIVE).toBeGreaterThan(0);
    expect(checkpointer.gone).toBe(false);
    expect(statSync(`${file}-wal`).ino).toBe(walInode);
    await store.close();
    const reopened = new SqliteRunStore(file);
    expect(await reopened.counts()).toMatchObject({ RUNNING: warm + 2000, QUEUED: 0 });
    expect((await reopened.events('r9-199')).map((e) => e.type)).toEqual(['status', 'status']);
    await reopened.close();
  });

  it('shows committed runs to another process, and all of them after a close and reopen', async () => {
    const file = freshFile();
    const store = new SqliteRunStore(file, { walCheckpointPages: PAGES, synchronous: 'NORMAL' });
    const checkpointer = checkpointerOf(store);
    await writeUntil(store, 'a', 'a first checkpoint', () => checkpointer.stats.PASSIVE > 0);
    await writeRuns(store, 'b', 300);
    const total = (await store.counts()).RUNNING;
    // Some of them in the database file, the latest in the log: the other process sees them all.
    const ids = jobIdsSeenByAnotherProcess(file);
    expect(ids).toHaveLength(total);
    expect(ids).toContain('a0-0');
    expect(ids).toContain('b-299');
    await store.close();
    expect(sizeOf(`${file}-wal`)).toBe(0);
    const reopened = new SqliteRunStore(file);
    expect(await reopened.counts()).toMatchObject({ RUNNING: total });
    expect(await reopened.get('b-299')).toMatchObject({ status: 'RUNNING', attempt: 1 });
    expect(await reopened.events('a0-0')).toHaveLength(2);
    await reopened.close();
  });

  it('truncates the log at close, in the thread, while another connection keeps the file open', async () => {
    const file = freshFile();
    const store = new SqliteRunStore(file, { walCheckpointPages: PAGES });
    const checkpointer = checkpointerOf(store);
    await writeUntil(store, 'b', 'a first checkpoint', () => checkpointer.stats.PASSIVE > 0);
    const total = (await store.counts()).RUNNING;
    // Another connection that has read the file keeps it open in WAL mode.
    const other = new Database(file);
    expect(other.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(total);
    expect(sizeOf(`${file}-wal`)).toBeGreaterThan(0);
    await store.close();
    expect(checkpointer.stats.TRUNCATE).toBe(1);
    // The other connection keeps the file alive, so SQLite does not delete the log at close.
    expect(existsSync(`${file}-wal`)).toBe(true);
    expect(sizeOf(`${file}-wal`)).toBe(0);
    expect(other.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(total);
    other.close();
  });

  it('closes at once after a first write, the thread still starting, leaving no log behind', async () => {
    const file = freshFile();
    const logger = recordingLogger();
    const store = new SqliteRunStore(file, { logger });
    await writeRuns(store, 'c', 5);
    await store.close();
    expect(checkpointerOf(store).gone).toBe(true);
    expect(logger.lines).toEqual([]);
    expect(existsSync(`${file}-wal`)).toBe(false);
    const reopened = new SqliteRunStore(file);
    expect(await reopened.counts()).toMatchObject({ RUNNING: 5 });
    await reopened.close();
  });

  it('holds writes for a restart of the log, and warns while a reader keeps an old snapshot', async () => {
    const file = freshFile();
    const logger = recordingLogger();
    const store = new SqliteRunStore(file, { walCheckpointPages: PAGES, logger });
    const checkpointer = checkpointerOf(store);
    await writeRuns(store, 'warm', 20);
    // A reader in another connection keeps the snapshot of now: no checkpoint can copy what was
    // committed after it, and the log cannot start over.
    const reader = new Database(file, { readonly: true });
    reader.exec('BEGIN');
    expect(reader.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(20);
    for (let round = 0; round < 50 && checkpointer.stats.busyRestarts === 0; round++) {
      await writeRuns(store, `held${round}`, 50);
    }
    expect(checkpointer.stats.busyRestarts).toBeGreaterThan(0);
    expect(logger.warnings).toEqual([expect.stringMatching(/cannot start over/)]);
    // Writes went on after the failed restart.
    await writeRuns(store, 'after', 50);
    reader.exec('COMMIT');
    reader.close();
    // Once the reader is gone, a restart succeeds (tried again a second later) and the log
    // stays bounded again.
    await writeUntil(
      store,
      'free',
      'a restart of the log',
      () => checkpointer.stats.RESTART > checkpointer.stats.busyRestarts,
    );
    let largestWal = 0;
    const before = sizeOf(`${file}-wal`);
    for (let r = 0; r < 5; r++) {
      await writeRuns(store, `bounded${r}`, 200);
      largestWal = Math.max(largestWal, sizeOf(`${file}-wal`));
    }
    // SQLite overwrites the file from its start, which keeps its largest size so far.
    expect(largestWal).toBeLessThanOrEqual(Math.max(before, WAL_BOUND));
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('reports a crash of the thread and checkpoints on its own connection from then on', async () => {
    const file = freshFile();
    const logger = recordingLogger();
    const store = new SqliteRunStore(file, { walCheckpointPages: PAGES, logger });
    const checkpointer = checkpointerOf(store);
    await writeUntil(store, 'w', 'a first checkpoint', () => checkpointer.stats.PASSIVE > 0);
    await checkpointer.terminate();
    await writeUntil(store, 'y', 'the crash to be reported', () => checkpointer.gone);
    expect(logger.warnings).toEqual([
      expect.stringMatching(/checkpointer thread of the run store .* stopped/),
    ]);
    // Nothing lost, nothing refused, and the log still bounded: SQLite's own checkpoints run.
    const walAfterCrash = sizeOf(`${file}-wal`);
    let largestWal = 0;
    for (let round = 0; round < 10; round++) {
      await writeRuns(store, `x${round}`, 200);
      largestWal = Math.max(largestWal, sizeOf(`${file}-wal`));
    }
    expect(largestWal).toBeLessThanOrEqual(Math.max(walAfterCrash, WAL_BOUND));
    const total = (await store.counts()).RUNNING;
    expect(total).toBeGreaterThanOrEqual(2000);
    await store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    const reopened = new SqliteRunStore(file);
    expect((await reopened.counts()).RUNNING).toBe(total);
    expect(await reopened.get('x9-199')).toMatchObject({ status: 'RUNNING' });
    await reopened.close();
  });

  it('lets a process end by itself, with its store closed or left open', () => {
    // The built package, in a process of its own: what `phys` runs.
    const script = (file: string, close: boolean) => `
      import { SqliteRunStore } from './dist/node.js';
      import { walCheckpointerOf } from './dist/sqlite-run-store.js';
      const store = new SqliteRunStore(${JSON.stringify(file)}, { walCheckpointPages: 4 });
      const run = (id) => ({ jobId: id, pipeline: 'p', status: 'QUEUED', params: {}, priority: 0,
        trigger: { kind: 'api' }, attempt: 0, maxAttempts: 1, submittedAt: '${at}' });
      const event = { at: '${at}', type: 'status', status: 'QUEUED', attempt: 0 };
      let runs = 0;
      while (walCheckpointerOf(store).stats.PASSIVE === 0) {
        if (runs === 5000) throw new Error('no checkpoint');
        await store.insert(run('r' + runs++), event);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      ${close ? 'await store.close();' : ''}
      process.stdout.write(String(runs));
    `;
    for (const close of [true, false]) {
      const file = freshFile();
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', '-e', script(file, close)],
        { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' },
      );
      expect(out).toMatch(/^\d+$/);
      // Closed or not, the file holds every run (a process that exits leaves its log to the next).
      const db = new Database(file);
      expect(db.prepare('SELECT count(*) FROM runs').pluck().get()).toBe(Number(out));
      db.close();
    }
  });

  it('refuses a checkpoint threshold that is not a whole number of pages', () => {
    for (const pages of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SqliteRunStore(freshFile(), { walCheckpointPages: pages })).toThrow(
        expect.objectContaining({
          code: 'PHYS_USAGE',
          message: expect.stringMatching(/walCheckpointPages/),
        }),
      );
    }
  });
});

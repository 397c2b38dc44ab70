import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '@phys/core';
import { describeRunStoreContract } from '@phys/testing';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/migrations.js';
import { SqliteRunStore } from '../src/sqlite-run-store.js';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-sqlite-store-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const freshFile = (): string => join(dir, `runs-${++n}.sqlite`);

describeRunStoreContract('SqliteRunStore', () => new SqliteRunStore(freshFile()));

const record = (jobId: string, extra: Partial<RunRecord> = {}): RunRecord => ({
  jobId,
  pipeline: 'scan',
  status: 'QUEUED',
  params: { beta: 0.4 },
  priority: 0,
  trigger: { kind: 'api' },
  attempt: 0,
  maxAttempts: 1,
  submittedAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});
const queued = {
  at: '2026-01-01T00:00:00.000Z',
  type: 'status',
  status: 'QUEUED',
  attempt: 0,
} as const;

describe('SqliteRunStore on disk', () => {
  it('keeps runs and events across a reopen of the file', async () => {
    const file = freshFile();
    const first = new SqliteRunStore(file);
    await first.insert(record('a'), queued);
    await first.update('a', { status: 'RUNNING', attempt: 1 }, [
      { at: queued.at, type: 'status', status: 'RUNNING', attempt: 1 },
    ]);
    await first.append('a', [{ at: queued.at, type: 'log', level: 'info', message: 'hello' }]);
    await first.close();

    const second = new SqliteRunStore(file);
    expect(await second.get('a')).toMatchObject({ status: 'RUNNING', attempt: 1 });
    expect((await second.events('a')).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await second.logTail('a', 10)).toEqual([
      { seq: 3, at: queued.at, type: 'log', level: 'info', message: 'hello' },
    ]);
    expect(await second.counts()).toMatchObject({ RUNNING: 1, QUEUED: 0 });
    await second.close();
  });

  it('opens in WAL mode, FULL unless told otherwise, and migrates the schema', async () => {
    const file = freshFile();
    expect(() => new SqliteRunStore(file, { synchronous: 'OFF' as never })).toThrow(
      expect.objectContaining({ code: 'PHYS_USAGE' }),
    );
    const store = new SqliteRunStore(file, { synchronous: 'NORMAL' });
    expect(store.synchronous).toBe('NORMAL');
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    await store.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
    const full = new SqliteRunStore(file);
    expect(full.synchronous).toBe('FULL');
    await full.insert(record('durable'), queued);
    await full.close();
  });

  it('refuses a file written by a newer schema, naming the versions', async () => {
    const file = freshFile();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteRunStore(file)).toThrow(
      expect.objectContaining({ code: 'PHYS_STORE_FAILED', message: expect.stringMatching(/99/) }),
    );
  });

  it('commits a burst of changes together, each one settling on its own', async () => {
    const store = new SqliteRunStore(freshFile());
    const inserts = Array.from({ length: 50 }, (_, i) =>
      store.insert(record(`r${i % 10}`), queued),
    );
    const missing = store.update('nope', { status: 'RUNNING' });
    const results = await Promise.all(inserts);
    await expect(missing).rejects.toMatchObject({ code: 'PHYS_RUN_NOT_FOUND' });
    expect(results.filter((r) => r.created)).toHaveLength(10);
    expect((await store.list({ limit: 500 })).runs).toHaveLength(10);
    await store.close();
  });

  it('sees the runs of another connection to the same file', async () => {
    const file = freshFile();
    const a = new SqliteRunStore(file);
    const b = new SqliteRunStore(file);
    const [x, y] = await Promise.all([
      a.insert(record('same'), queued),
      b.insert(record('same'), queued),
    ]);
    expect([x.created, y.created].sort()).toEqual([false, true]);
    await a.close();
    await b.close();
  });

  it('fails with PHYS_STORE_CLOSED once closed', async () => {
    const store = new SqliteRunStore(freshFile());
    await store.close();
    await expect(store.get('a')).rejects.toMatchObject({ code: 'PHYS_STORE_CLOSED' });
  });
});

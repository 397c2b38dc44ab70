import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CacheEntry, CancelledError, hashState } from '@phys/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SharedDiskCache } from './shared-disk-cache.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-shared-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const key = (n: number | string) => hashState(['shared-key', n]);
const entry = (n: number): CacheEntry => ({
  state: { n, data: new Int32Array([n, n * 2]) },
  metrics: {},
  provenance: { node: `n${n}` },
});

function writeLock(cache: SharedDiskCache, k: string, owner: object, ageMs: number): string {
  const path = cache.lockPathOf(k);
  fs.mkdirSync(join(dir, 'locks'), { recursive: true });
  fs.writeFileSync(path, JSON.stringify({ since: 0, user: 'someone', token: 'theirs', ...owner }));
  const at = new Date(Date.now() - ageMs);
  fs.utimesSync(path, at, at);
  return path;
}

describe('SharedDiskCache', () => {
  it('computes a missing entry once, publishes it, and releases the lock', async () => {
    const cache = new SharedDiskCache({ dir });
    const other = new SharedDiskCache({ dir });
    let calls = 0;
    const first = await cache.getOrCompute(key(1), () => {
      calls++;
      return entry(1);
    });
    const second = await other.getOrCompute(key(1), () => {
      calls++;
      return entry(99);
    });
    expect(calls).toBe(1);
    expect(first).toEqual({ entry: entry(1), computed: true });
    expect(second).toEqual({ entry: entry(1), computed: false });
    expect(fs.existsSync(cache.lockPathOf(key(1)))).toBe(false);
    expect(cache.name).toBe('shared-disk');
  });

  it('makes files group-writable and directories setgid whatever the umask', async () => {
    const previous = process.umask(0o077);
    try {
      const cache = new SharedDiskCache({ dir: join(dir, 'group') });
      await cache.getOrCompute(key(1), () => entry(1));
      const mode = (path: string) => fs.statSync(path).mode & 0o7777;
      expect(mode(cache.pathOf(key(1)))).toBe(0o664);
      for (const sub of ['group', 'group/v1', `group/v1/${key(1).slice(0, 2)}`, 'group/locks']) {
        expect(mode(join(dir, sub))).toBe(0o2775);
      }
    } finally {
      process.umask(previous);
    }
  });

  it('names the holder of a lock while it computes, and others wait for its entry', async () => {
    const cache = new SharedDiskCache({ dir, pollMinMs: 5 });
    const waiter = new SharedDiskCache({ dir, pollMinMs: 5 });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const computing = new Promise<void>((r) => {
      started = r;
    });
    const owner = cache.getOrCompute(key(2), async () => {
      started();
      await gate;
      return entry(2);
    });
    await computing;
    expect(await cache.lockOwner(key(2))).toMatchObject({ host: hostname(), pid: process.pid });
    let waiterComputed = false;
    const waiting = waiter.getOrCompute(key(2), () => {
      waiterComputed = true;
      return entry(-1);
    });
    release();
    expect(await waiting).toEqual({ entry: entry(2), computed: false });
    expect(await owner).toEqual({ entry: entry(2), computed: true });
    expect(waiterComputed).toBe(false);
    expect(await cache.lockOwner(key(2))).toBeUndefined();
  });

  it('takes over a lock whose heartbeat stopped', async () => {
    const cache = new SharedDiskCache({ dir, heartbeatMs: 20, lockStaleMs: 150, pollMinMs: 5 });
    const lock = writeLock(cache, key(3), { host: 'another-host', pid: 1 }, 0);
    const result = await cache.getOrCompute(key(3), () => entry(3));
    expect(result).toEqual({ entry: entry(3), computed: true });
    expect(fs.existsSync(lock)).toBe(false);
    expect(fs.readdirSync(join(dir, 'locks'))).toEqual([]);
  });

  it('takes over at once the lock of a process of this host that died', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const pid = Number(dead.stdout);
    // A stale-lock timeout far longer than the test: only the dead-holder check can free it.
    const cache = new SharedDiskCache({ dir, heartbeatMs: 60_000, lockStaleMs: 600_000 });
    writeLock(cache, key(4), { host: hostname(), pid }, 0);
    expect(await cache.getOrCompute(key(4), () => entry(4))).toEqual({
      entry: entry(4),
      computed: true,
    });
  });

  it('keeps a live lock: the heartbeat holds waiters off', async () => {
    const options = { dir, heartbeatMs: 25, lockStaleMs: 250, pollMinMs: 5 };
    const holder = new SharedDiskCache(options);
    const waiter = new SharedDiskCache(options);
    let computes = 0;
    // The holder computes for several stale periods; its heartbeat must keep the lock its own.
    const slow = holder.getOrCompute(key(5), async () => {
      computes++;
      await new Promise((r) => setTimeout(r, 800));
      return entry(5);
    });
    await new Promise((r) => setTimeout(r, 30));
    const waited = await waiter.getOrCompute(key(5), () => {
      computes++;
      return entry(-5);
    });
    expect(waited).toEqual({ entry: entry(5), computed: false });
    expect((await slow).computed).toBe(true);
    expect(computes).toBe(1);
  });

  it('releases the lock when the computation fails, so the next caller computes', async () => {
    const cache = new SharedDiskCache({ dir });
    await expect(
      cache.getOrCompute(key(6), () => {
        throw new Error('stage failed');
      }),
    ).rejects.toThrow('stage failed');
    expect(fs.existsSync(cache.lockPathOf(key(6)))).toBe(false);
    expect((await cache.getOrCompute(key(6), () => entry(6))).computed).toBe(true);
  });

  it('stops waiting when aborted', async () => {
    const cache = new SharedDiskCache({ dir, pollMinMs: 5 });
    writeLock(cache, key(7), { host: 'another-host', pid: 1 }, 0);
    const controller = new AbortController();
    const waiting = cache.getOrCompute(key(7), () => entry(7), { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
  });

  it('many keys waiting on one signal share one abort listener (no MaxListenersExceededWarning)', async () => {
    // A run passes one signal for all its keys; 30 of them wait for another host's locks. A
    // waiter checks for the entry (has) after each pause, so once every key has been checked,
    // all 30 have paused, at the same time (1 s each, started together).
    const checked = new Set<string>();
    class Watched extends SharedDiskCache {
      override has(k: string): Promise<boolean> {
        checked.add(k);
        return super.has(k);
      }
    }
    const cache = new Watched({ dir, pollMinMs: 1000, pollMaxMs: 1000 });
    const keys = Array.from({ length: 30 }, (_, i) => key(`waiting-${i}`));
    for (const k of keys) writeLock(cache, k, { host: 'another-host', pid: 1 }, 0);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const waits = keys.map((k) =>
        cache.getOrCompute(k, () => entry(0), { signal: controller.signal }).catch((e) => e),
      );
      while (checked.size < keys.length) await new Promise((r) => setTimeout(r, 10));
      expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
      controller.abort();
      for (const outcome of await Promise.all(waits))
        expect(outcome).toBeInstanceOf(CancelledError);
      expect(getEventListeners(controller.signal, 'abort')).toEqual([]);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });

  it('gc() removes abandoned locks', async () => {
    const cache = new SharedDiskCache({ dir });
    const lock = writeLock(cache, key(8), { host: 'another-host', pid: 1 }, 2 * 3_600_000);
    const fresh = writeLock(cache, key(9), { host: 'another-host', pid: 1 }, 0);
    expect((await cache.gc()).tempFilesRemoved).toBe(1);
    expect(fs.existsSync(lock)).toBe(false);
    expect(fs.existsSync(fresh)).toBe(true);
  });

  it('rejects inconsistent timing options', () => {
    expect(() => new SharedDiskCache({ dir, heartbeatMs: 1000, lockStaleMs: 1500 })).toThrow(
      /at least twice/,
    );
    expect(() => new SharedDiskCache({ dir, heartbeatMs: -1 })).toThrow(/heartbeatMs/);
  });
});

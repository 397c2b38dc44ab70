import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entry, key } from '../test/entries.js';
import { DiskCache } from './disk-cache.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-index-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

// The index through the cache that uses it: what a user sees is which entries are left.
describe('DiskCache eviction', () => {
  it('evicts the least recently used entries beyond maxBytes', async () => {
    const probe = new DiskCache({ dir: join(dir, 'probe') });
    await probe.put(key(0), entry(0));
    const size = (await probe.stats()).bytes;
    const cache = new DiskCache({ dir, maxBytes: size * 3 + size / 2 });
    await cache.put(key(1), entry(1));
    await cache.put(key(2), entry(2));
    await cache.put(key(3), entry(3));
    expect(await cache.get(key(1))).toBeDefined(); // 2 is now the least recently used
    await cache.put(key(4), entry(4));
    expect(await cache.has(key(2))).toBe(false);
    expect(await cache.stats()).toMatchObject({ entries: 3, evictions: 1 });
    await cache.put(key(5), entry(5)); // then 3
    expect(await cache.has(key(3))).toBe(false);
    for (const n of [1, 4, 5]) expect(await cache.has(key(n))).toBe(true);
    expect((await cache.stats()).bytes).toBeLessThanOrEqual(cache.maxBytes);
  });

  it('keeps recency across reopening (file mtimes) and skips entries larger than the limit', async () => {
    const first = new DiskCache({ dir });
    for (const n of [1, 2, 3]) await first.put(key(n), entry(n));
    const size = (await first.stats()).bytes / 3;
    // Recency as another session left it: 2 used last, 3 least recently.
    const at = (s: number) => new Date(Date.now() - s * 1000);
    fs.utimesSync(first.pathOf(key(1)), at(200), at(200));
    fs.utimesSync(first.pathOf(key(2)), at(100), at(100));
    fs.utimesSync(first.pathOf(key(3)), at(300), at(300));
    const cache = new DiskCache({ dir, maxBytes: Math.floor(size * 3.5) });
    await cache.put(key(4), entry(4));
    expect(await cache.has(key(3))).toBe(false);
    await cache.put(key(5), entry(5));
    expect(await cache.has(key(1))).toBe(false);
    expect(await cache.has(key(2))).toBe(true);

    const small = new DiskCache({ dir: join(dir, 'small'), maxBytes: 64 });
    await small.put(key(9), entry(9));
    expect(await small.has(key(9))).toBe(false);
  });

  it('persists the recency of hits in file mtimes', async () => {
    const cache = new DiskCache({ dir });
    await cache.put(key(1), entry(1));
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(cache.pathOf(key(1)), old, old);
    await cache.get(key(1));
    await cache.close();
    expect(fs.statSync(cache.pathOf(key(1))).mtimeMs).toBeGreaterThan(old.getTime() + 1000);
  });
});

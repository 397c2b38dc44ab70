import type { CacheEntry } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { MemoryCache } from './memory-cache.js';

const entry = (x: number): CacheEntry => ({
  state: { field: new Float64Array([x, x + 1]), meta: new Map([['step', x]]) },
  metrics: { loss: x / 10 },
  provenance: { configHash: `h${x}` },
});

describe('MemoryCache', () => {
  it('returns what was put, with typed arrays and maps intact, and counts hits and misses', async () => {
    const cache = new MemoryCache();
    expect(await cache.get('k')).toBeUndefined();
    await cache.put('k', entry(1));
    expect(await cache.has('k')).toBe(true);
    expect(await cache.get('k')).toEqual(entry(1));
    const stats = await cache.stats();
    expect(stats).toMatchObject({ hits: 1, misses: 1, entries: 1, corrupt: 0, evictions: 0 });
    expect(stats.bytes).toBeGreaterThan(16);
  });

  it('is isolated from callers mutating what they put or got', async () => {
    const cache = new MemoryCache();
    const original = entry(2);
    await cache.put('k', original);
    (original.state as { field: Float64Array }).field[0] = 99;
    const got = (await cache.get('k')) as CacheEntry;
    expect((got.state as { field: Float64Array }).field[0]).toBe(2);
    (got.state as { field: Float64Array }).field[0] = 77;
    const again = (await cache.get('k')) as CacheEntry;
    expect((again.state as { field: Float64Array }).field[0]).toBe(2);
  });

  it('overwrites, deletes and keeps its byte count exact', async () => {
    const cache = new MemoryCache();
    await cache.put('a', entry(1));
    const one = (await cache.stats()).bytes;
    await cache.put('a', entry(1));
    expect((await cache.stats()).bytes).toBe(one);
    await cache.put('b', entry(2));
    expect(await cache.delete('a')).toBe(true);
    expect(await cache.delete('a')).toBe(false);
    expect(await cache.stats()).toMatchObject({ entries: 1, bytes: one });
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = new MemoryCache({ maxEntries: 2 });
    await cache.put('a', entry(1));
    await cache.put('b', entry(2));
    await cache.get('a');
    await cache.put('c', entry(3));
    expect(await cache.has('a')).toBe(true);
    expect(await cache.has('b')).toBe(false);
    expect(await cache.has('c')).toBe(true);
    expect((await cache.stats()).evictions).toBe(1);
  });

  it('treats corrupted bytes as a miss, never an error or wrong data', async () => {
    const cache = new MemoryCache();
    await cache.put('k', entry(1));
    expect(cache.corrupt('k', (bytes) => bytes.subarray(0, bytes.byteLength - 5))).toBe(true);
    expect(await cache.get('k')).toBeUndefined();
    expect(await cache.has('k')).toBe(false);
    expect(await cache.stats()).toMatchObject({
      corrupt: 1,
      misses: 1,
      hits: 0,
      entries: 0,
      bytes: 0,
    });
  });

  it('rejects empty keys and a maxEntries below one', async () => {
    await expect(new MemoryCache().get('')).rejects.toMatchObject({ code: 'PHYS_USAGE' });
    expect(() => new MemoryCache({ maxEntries: 0 })).toThrow(/maxEntries/);
  });

  it('close() drops the entries', async () => {
    const cache = new MemoryCache({ name: 'scratch' });
    await cache.put('k', entry(1));
    await cache.close();
    expect(cache.name).toBe('scratch');
    expect(await cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });
});

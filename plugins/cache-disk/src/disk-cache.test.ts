import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CacheEntry,
  CancelledError,
  isMaintainableCache,
  isSingleFlightCache,
  PhysError,
} from '@phys/core';
import { MemoryCache } from '@phys/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entry, key, quarantinedIn } from '../test/entries.js';
import { DiskCache } from './disk-cache.js';
import { type EntryLayout, HEAD_BYTES, parseLayout } from './entry-file.js';
import { SharedDiskCache } from './shared-disk-cache.js';
import type { LockOutcome, SingleFlightLock } from './single-flight-lock.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-disk-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const quarantined = () => quarantinedIn(dir);

describe('DiskCache', () => {
  it('round-trips entries: typed arrays, Maps, bigints, metrics, artifacts, provenance', async () => {
    const cache = new DiskCache({ dir });
    const value: CacheEntry = {
      state: {
        grid: new Float32Array([1.5, 2.5]),
        ids: new BigInt64Array([1n, -2n]),
        table: new Map<string, unknown>([['a', 1]]),
        big: 2n ** 70n,
        when: new Date(5),
      },
      metrics: { loss: 0.25 },
      artifacts: { note: 'hello' },
      provenance: { node: 'n1' },
    };
    await cache.put(key(1), value);
    const got = await cache.get(key(1));
    expect(got).toEqual(value);
    expect(await cache.get(key(2))).toBeUndefined();
    expect(await cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1, corrupt: 0 });
  });

  it('lays entries out by key and reads typed arrays back as views of one buffer', async () => {
    const cache = new DiskCache({ dir });
    const big = new Float64Array(100_000).map((_, i) => i * 0.5);
    await cache.put(key('big'), { state: { big }, metrics: {}, provenance: {} });
    const path = join(dir, 'v1', key('big').slice(0, 2), key('big'));
    expect(cache.pathOf(key('big'))).toBe(path);
    const size = fs.statSync(path).size;
    const got = (await cache.get(key('big'))) as CacheEntry & { state: { big: Float64Array } };
    expect(got.state.big).toEqual(big);
    // Not a copy: the array's memory is the buffer the file was read into.
    expect(got.state.big.buffer.byteLength).toBe(size);
    expect(got.state.big.byteOffset % 8).toBe(0);
  });

  it('stores keys that are not hex digests under their hash', async () => {
    const cache = new DiskCache({ dir });
    const odd = 'run 7/node a:b ✓';
    await cache.put(odd, entry(7));
    expect(cache.pathOf(odd)).toMatch(/v1[/\\][0-9a-f]{2}[/\\]~[0-9a-f]{64}$/);
    expect(await cache.get(odd)).toEqual(entry(7));
    expect(await cache.has(odd)).toBe(true);
    expect((await cache.list().next()).value?.key).toBe(odd);
  });

  it('keeps the stored entry when identical work stores the same result again', async () => {
    const cache = new DiskCache({ dir });
    const first = entry(1);
    await cache.put(key(1), first);
    const path = cache.pathOf(key(1));
    const inode = fs.statSync(path).ino;
    // Another node with the same key: same result, its own provenance.
    await cache.put(key(1), { ...first, provenance: { node: 'twin' } });
    expect(fs.statSync(path).ino).toBe(inode);
    expect(await cache.get(key(1))).toEqual(first);
    // A different result replaces it.
    await cache.put(key(1), entry(2));
    expect(await cache.get(key(1))).toEqual(entry(2));
    // So does any result over a damaged entry.
    const bytes = fs.readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    fs.writeFileSync(path, bytes);
    await cache.put(key(1), entry(2));
    expect(await cache.get(key(1))).toEqual(entry(2));
    expect((await cache.stats()).corrupt).toBe(0);
  });

  it('keeps every entry when reopened', async () => {
    const first = new DiskCache({ dir });
    for (let i = 0; i < 20; i++) await first.put(key(i), entry(i));
    const { bytes } = await first.stats();
    await first.close();
    const reopened = new DiskCache({ dir });
    expect(await reopened.stats()).toMatchObject({ entries: 20, bytes, hits: 0 });
    for (let i = 0; i < 20; i++) expect(await reopened.get(key(i))).toEqual(entry(i));
  });

  describe('treats damaged entries as misses, moves them aside and counts them', () => {
    const positions: Array<[string, (size: number, layout: EntryLayout) => number]> = [
      ['magic', () => 0],
      ['format version', () => 4],
      ['key length', () => 6],
      ['metadata length', () => 9],
      ['result length', () => 16],
      ['provenance length', () => 24],
      ['total length', () => 33],
      ['key', () => HEAD_BYTES + 3],
      ['metadata', (_s, l) => l.resultOffset - 12],
      ['result start', (_s, l) => l.resultOffset],
      ['result middle', (_s, l) => l.resultOffset + Math.floor(l.resultLength / 2)],
      ['provenance', (_s, l) => l.provenanceOffset + 1],
      ['checksum trailer', (s) => s - 1],
    ];
    for (const [where, at] of positions) {
      it(`one flipped byte in the ${where}`, async () => {
        const cache = new DiskCache({ dir });
        await cache.put(key(1), entry(1));
        const path = cache.pathOf(key(1));
        const bytes = fs.readFileSync(path);
        const layout = parseLayout(bytes);
        if (layout === undefined) throw new Error('unreadable entry');
        const i = at(bytes.length, layout);
        bytes[i] = (bytes[i] as number) ^ 0x10;
        fs.writeFileSync(path, bytes);

        expect(await cache.get(key(1))).toBeUndefined();
        expect(fs.existsSync(path)).toBe(false);
        expect(quarantined()).toHaveLength(1);
        expect(await cache.stats()).toMatchObject({ corrupt: 1, misses: 1, hits: 0, entries: 0 });
        // The next computation stores a good entry again.
        await cache.put(key(1), entry(1));
        expect(await cache.get(key(1))).toEqual(entry(1));
      });
    }

    it('truncated, empty, or with bytes appended', async () => {
      const cache = new DiskCache({ dir });
      const damage: Array<(b: Buffer) => Buffer> = [
        (b) => b.subarray(0, b.length - 1),
        (b) => b.subarray(0, Math.floor(b.length / 2)),
        (b) => b.subarray(0, 10),
        () => Buffer.alloc(0),
        (b) => Buffer.concat([b, Buffer.from([0])]),
      ];
      for (const [i, hurt] of damage.entries()) {
        await cache.put(key(i), entry(i));
        const path = cache.pathOf(key(i));
        fs.writeFileSync(path, hurt(fs.readFileSync(path)));
        expect(await cache.get(key(i))).toBeUndefined();
      }
      expect((await cache.stats()).corrupt).toBe(damage.length);
      expect(quarantined()).toHaveLength(damage.length);
    });

    it('large entries read in several steps, and fully asynchronous caches', async () => {
      for (const syncIoMaxBytes of [0, 256 * 1024]) {
        const cache = new DiskCache({ dir: join(dir, String(syncIoMaxBytes)), syncIoMaxBytes });
        const big = { state: new Float64Array(200_000).fill(1), metrics: {}, provenance: {} };
        await cache.put(key('big'), big);
        await cache.put(key('small'), entry(1));
        expect(await cache.get(key('big'))).toEqual(big);
        expect(await cache.get(key('small'))).toEqual(entry(1));
        for (const k of [key('big'), key('small')]) {
          const path = cache.pathOf(k);
          const bytes = fs.readFileSync(path);
          bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 1;
          fs.writeFileSync(path, bytes);
          expect(await cache.get(k)).toBeUndefined();
        }
        expect((await cache.stats()).corrupt).toBe(2);
      }
    });

    it('an intact entry under another key’s name', async () => {
      const cache = new DiskCache({ dir });
      await cache.put(key(1), entry(1));
      await cache.put(key(2), entry(2));
      fs.copyFileSync(cache.pathOf(key(1)), cache.pathOf(key(2)));
      expect(await cache.get(key(2))).toBeUndefined();
      expect(await cache.get(key(1))).toEqual(entry(1));
      expect((await cache.stats()).corrupt).toBe(1);
    });
  });

  it('writes with fsync: true and false', async () => {
    for (const fsync of [true, false]) {
      const cache = new DiskCache({ dir: join(dir, String(fsync)), fsync });
      await cache.put(key(1), entry(1));
      expect(await cache.get(key(1))).toEqual(entry(1));
    }
  });

  it('leaves nothing behind when an entry cannot be encoded', async () => {
    const cache = new DiskCache({ dir });
    const bad = { state: { f: () => 1 }, metrics: {}, provenance: {} } as CacheEntry;
    await expect(cache.put(key(1), bad)).rejects.toMatchObject({ code: 'PHYS_STATE_UNSUPPORTED' });
    expect(await cache.has(key(1))).toBe(false);
    expect((await cache.gc({ tempMaxAgeMs: 0 })).tempFilesRemoved).toBe(0);
  });

  it('getOrCompute() computes a missing entry once for concurrent callers', async () => {
    const cache = new DiskCache({ dir });
    let calls = 0;
    const compute = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 10));
      return entry(5);
    };
    const results = await Promise.all([1, 2, 3].map(() => cache.getOrCompute(key(5), compute)));
    expect(calls).toBe(1);
    expect(results.map((r) => r.computed)).toEqual([true, false, false]);
    for (const r of results) expect(r.entry).toEqual(entry(5));
    expect(await cache.getOrCompute(key(5), compute)).toEqual({ entry: entry(5), computed: false });
  });

  it('reports I/O failures and bad options as PhysErrors', async () => {
    const file = join(dir, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const cache = new DiskCache({ dir: join(file, 'cache') });
    expect(await cache.get(key(1))).toBeUndefined();
    const failure = await cache.put(key(1), entry(1)).catch((e: unknown) => e);
    expect(PhysError.is(failure) && failure.code).toBe('PHYS_CACHE_DISK_IO');
    expect(() => new DiskCache({ dir: '' })).toThrow(/dir/);
    expect(() => new DiskCache({ dir, maxBytes: 'lots' })).toThrow(/Invalid memory/);
    expect(() => new DiskCache({ dir, fsync: 'often' as never })).toThrow(/fsync/);
    await expect(new DiskCache({ dir }).get('')).rejects.toMatchObject({ code: 'PHYS_USAGE' });
  });
  it('implements the SingleFlightCache and MaintainableCache contracts of @phys/core', () => {
    for (const cache of [new DiskCache({ dir }), new SharedDiskCache({ dir })]) {
      expect(isSingleFlightCache(cache)).toBe(true);
      expect(isMaintainableCache(cache)).toBe(true);
    }
    expect(isSingleFlightCache(new MemoryCache())).toBe(false);
    expect(isMaintainableCache(new MemoryCache())).toBe(false);
  });

  describe('getOrCompute() with a lock', () => {
    /** A lock that records what the cache asks of it; `wait` decides what acquire() resolves to. */
    function recordingLock(wait?: () => Promise<CacheEntry | undefined>) {
      const calls: string[] = [];
      const lock: SingleFlightLock = {
        async acquire(k, _published, signal): Promise<LockOutcome> {
          calls.push(`acquire ${k === key(1) ? 'k1' : k}`);
          if (signal?.aborted) throw new CancelledError('aborted');
          const other = await wait?.();
          if (other !== undefined) return { locked: false, entry: other };
          return {
            locked: true,
            release: async () => {
              calls.push('release');
            },
          };
        },
        async gc() {
          calls.push('gc');
          return 2;
        },
      };
      return { lock, calls };
    }

    it('takes the lock on a miss, computes and stores while holding it, then releases it', async () => {
      const { lock, calls } = recordingLock();
      const cache = new DiskCache({ dir, lock });
      const result = await cache.getOrCompute(key(1), () => {
        calls.push('compute');
        return entry(1);
      });
      expect(result).toEqual({ entry: entry(1), computed: true });
      expect(calls).toEqual(['acquire k1', 'compute', 'release']);
      expect(await cache.get(key(1))).toEqual(entry(1));
      // A hit never asks the lock.
      expect((await cache.getOrCompute(key(1), () => entry(9))).computed).toBe(false);
      expect(calls).toHaveLength(3);
    });

    it('returns the entry another holder published instead of computing', async () => {
      const { lock, calls } = recordingLock(async () => entry(7));
      const cache = new DiskCache({ dir, lock });
      const result = await cache.getOrCompute(key(1), () => {
        calls.push('compute');
        return entry(1);
      });
      expect(result).toEqual({ entry: entry(7), computed: false });
      expect(calls).toEqual(['acquire k1']);
    });

    it('releases the lock when the computation fails, and passes the signal on', async () => {
      const { lock, calls } = recordingLock();
      const cache = new DiskCache({ dir, lock });
      await expect(
        cache.getOrCompute(key(1), () => {
          throw new Error('stage failed');
        }),
      ).rejects.toThrow('stage failed');
      expect(calls).toEqual(['acquire k1', 'release']);
      const aborted = AbortSignal.abort();
      await expect(
        cache.getOrCompute(key(1), () => entry(1), { signal: aborted }),
      ).rejects.toBeInstanceOf(CancelledError);
    });

    it('lets gc() clean up after the lock too', async () => {
      const { lock, calls } = recordingLock();
      const report = await new DiskCache({ dir, lock }).gc();
      expect(report.tempFilesRemoved).toBe(2);
      expect(calls).toEqual(['gc']);
      expect(() => new DiskCache({ dir, lock: {} as never })).toThrow(/lock/);
    });
  });
});

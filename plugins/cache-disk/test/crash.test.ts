import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashState } from '@phys/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DiskCache } from '../src/disk-cache.js';
import { assertBuilt, finished, spawnNode } from './helpers.js';

const MB = 200;
const FLOATS = (MB * 1024 * 1024) / 8;

let dir: string;
beforeAll(assertBuilt);
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-crash-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Temporary files of `key`'s shard with their sizes. */
function temps(cache: DiskCache, key: string): Array<{ path: string; size: number }> {
  const shard = join(cache.pathOf(key), '..');
  if (!fs.existsSync(shard)) return [];
  return fs
    .readdirSync(shard)
    .filter((n) => n.startsWith('.') && n.endsWith('.tmp'))
    .map((n) => ({ path: join(shard, n), size: fs.statSync(join(shard, n)).size }));
}

/**
 * Starts a child that writes a 200 MB entry under `key` and SIGKILLs it once its temporary file
 * exists and has grown, well before it is complete. Returns the size the file had at the kill.
 */
async function killMidWrite(cache: DiskCache, key: string): Promise<number> {
  const child = spawnNode('crash-writer.mjs', [dir, key, String(MB)]);
  const done = finished(child);
  let seen = -1;
  let killedAt = -1;
  while (killedAt < 0) {
    if (child.exitCode !== null) break;
    const [temp] = temps(cache, key);
    if (temp !== undefined) {
      if (seen > 0 && temp.size > seen && temp.size < FLOATS * 8 * 0.9) {
        child.kill('SIGKILL');
        killedAt = temp.size;
      }
      seen = temp.size;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const result = await done;
  expect(result.signal, `the writer finished before it could be killed: ${result.stderr}`).toBe(
    'SIGKILL',
  );
  return killedAt;
}

describe('a writer killed in the middle of a large entry', () => {
  it('leaves nothing that is ever served; the next get misses and a recompute is stored', async () => {
    const cache = new DiskCache({ dir });
    const key = hashState(['crash', 1]);
    const sizeAtKill = await killMidWrite(cache, key);
    expect(sizeAtKill).toBeGreaterThan(0);

    expect(fs.existsSync(cache.pathOf(key))).toBe(false);
    const [temp] = temps(cache, key);
    expect(temp?.size).toBeLessThan(FLOATS * 8);

    const reader = new DiskCache({ dir });
    expect(await reader.get(key)).toBeUndefined();
    expect(await reader.stats()).toMatchObject({ hits: 0, misses: 1, corrupt: 0, entries: 0 });

    const state = new Float64Array(FLOATS);
    for (let i = 0; i < FLOATS; i += 4096) state[i] = i;
    await reader.put(key, { state, metrics: {}, provenance: {} });
    const got = await new DiskCache({ dir }).get(key);
    const values = got?.state as Float64Array;
    expect(values.length).toBe(FLOATS);
    expect(values[4096 * 100]).toBe(4096 * 100);
    expect(values[FLOATS - 1]).toBe(0);

    // The dead writer's temporary file is garbage once it is old enough.
    expect((await reader.gc({ tempMaxAgeMs: 0 })).tempFilesRemoved).toBe(1);
    expect(temps(cache, key)).toEqual([]);
  });

  it('leaves the entry it was replacing intact', async () => {
    const cache = new DiskCache({ dir });
    const key = hashState(['crash', 2]);
    const before = { state: { version: 'old', data: new Float64Array(1000).fill(7) } };
    await cache.put(key, { ...before, metrics: {}, provenance: {} });
    await killMidWrite(cache, key);
    const reader = new DiskCache({ dir });
    expect(await reader.get(key)).toEqual({ ...before, metrics: {}, provenance: {} });
    expect((await reader.stats()).corrupt).toBe(0);
  });
});

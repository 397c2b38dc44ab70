import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashState } from '@phys/core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SharedDiskCache } from '../src/shared-disk-cache.js';
import { assertBuilt, finished, spawnNode } from './helpers.js';

const WORKERS = 8;
const KEYS = 200;

let root: string;
beforeAll(assertBuilt);
beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'phys-cache-race-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('processes racing on one SharedDiskCache', () => {
  it('get correct results, and every key is computed exactly once', async () => {
    const dir = join(root, 'cache');
    const logs = join(root, 'logs');
    fs.mkdirSync(logs);
    const runs = Array.from({ length: WORKERS }, (_, w) =>
      finished(spawnNode('race-worker.mjs', [dir, logs, String(w), String(KEYS)])),
    );
    const results = await Promise.all(runs);
    const reports = results.map((r, w) => {
      expect(r.code, `worker ${w} failed: ${r.stderr}`).toBe(0);
      return JSON.parse(r.stdout) as { computed: number; wrong: number[]; seen: number };
    });

    for (const report of reports) {
      expect(report.wrong).toEqual([]);
      expect(report.seen).toBe(KEYS);
    }
    expect(reports.reduce((sum, r) => sum + r.computed, 0)).toBe(KEYS);
    const counts = Array.from({ length: KEYS }, (_, i) => {
      const log = join(logs, `${i}.log`);
      return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').length : 0;
    });
    expect(counts.filter((c) => c !== 1)).toEqual([]);

    // No lock is left behind, and every entry is there for the next run.
    expect(fs.readdirSync(join(dir, 'locks'))).toEqual([]);
    const cache = new SharedDiskCache({ dir });
    expect(await cache.verify()).toMatchObject({ checked: KEYS, ok: KEYS, corrupt: 0 });
    expect(await cache.has(hashState(['race', 0]))).toBe(true);
  });
});

// A wide layer of cached nodes is looked up all at once. Under a descriptor limit (`ulimit -n`,
// 1024 by default on most Linux systems, often less on clusters) every lookup must still hit:
// the cache bounds the descriptors it holds, and waits out EMFILE instead of reporting a miss.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { assertBuilt, finished, fixtures } from './helpers.js';

let dir: string;
beforeAll(assertBuilt);
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-fds-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the fixture with at most `limit` open descriptors (the soft and hard limit). */
function underLimit(limit: number, args: readonly string[]) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return finished(
    spawn(
      'bash',
      [
        '-c',
        `ulimit -n ${limit} && exec "$0" "$@"`,
        process.execPath,
        join(fixtures, 'many-lookups.mjs'),
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    ),
  );
}

describe('lookups under a descriptor limit', () => {
  it.each(['local', 'shared'])(
    'a %s cache restores all of 1,000 entries looked up at once under ulimit -n 128',
    async (kind) => {
      // Before the bound, about 110 hit and the rest failed with EMFILE (a recompute each).
      const count = 1000;
      const out = await underLimit(128, [join(dir, 'cache'), String(count), kind]);
      expect(out.code, out.stderr).toBe(0);
      expect(JSON.parse(out.stdout)).toEqual({ hits: count, recomputed: 0, errors: 0 });
    },
  );
});

// Keys and entries the unit tests in src/ share.
import fs from 'node:fs';
import { join } from 'node:path';
import { type CacheEntry, hashState } from '@phys/core';

export const key = (n: number | string) => hashState(['test-key', n]);

export function entry(n: number, extra: Record<string, unknown> = {}): CacheEntry {
  return {
    state: { n, values: new Float64Array([n, n + 0.5, -n]), label: `entry ${n}`, ...extra },
    metrics: { 'node.loss': n / 10 },
    provenance: { node: `node-${n}`, stage: 'test/stage', version: '3' },
  };
}

/** Names of the files in `<dir>/quarantine/`. */
export const quarantinedIn = (dir: string) =>
  fs.existsSync(join(dir, 'quarantine')) ? fs.readdirSync(join(dir, 'quarantine')) : [];

import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CacheEntry,
  DAG_KEY_FORMAT,
  type DagKeyInputs,
  type DagPlan,
  defineStage,
  formatKeyChange,
  KEY_INPUTS_FIELD,
  type NodeSpec,
  planDag,
} from '@phys/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { entry, key, quarantinedIn } from '../test/entries.js';
import { DiskCache } from './disk-cache.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-maintenance-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const quarantined = () => quarantinedIn(dir);

const Scale = defineStage({
  name: 'plan/scale',
  version: '1',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
});

const Scale2 = defineStage({
  name: 'plan/scale',
  version: '2',
  config: z.object({ factor: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
});

// load -> (left, right) -> join
function pipeline(leftFactor = 2, rightVersion: 1 | 2 = 1): NodeSpec[] {
  return [
    { id: 'load', stage: Scale({ factor: 1 }) },
    { id: 'left', stage: Scale({ factor: leftFactor }), deps: ['load'] },
    { id: 'right', stage: (rightVersion === 1 ? Scale : Scale2)({ factor: 3 }), deps: ['load'] },
    { id: 'join', stage: Scale({ factor: 1 }), deps: ['left', 'right'] },
  ];
}

/** Stores every planned node as an executor would after running it. */
async function runAll(plan: DagPlan, cache: DiskCache): Promise<void> {
  for (const node of plan.nodes) {
    if (node.cached) continue;
    const stored: CacheEntry = {
      state: { x: 1 },
      metrics: {},
      provenance: { node: node.id, stage: node.inputs.stageName, [KEY_INPUTS_FIELD]: node.inputs },
    };
    await cache.put(node.key, stored);
  }
}

const why = (plan: DagPlan) =>
  Object.fromEntries(
    plan.nodes.map((n) => [n.id, n.cached ? 'cached' : formatKeyChange(n.reasons)]),
  );

describe('DiskCache maintenance', () => {
  it('has, delete, list and lineage', async () => {
    const cache = new DiskCache({ dir });
    const inputs: DagKeyInputs = {
      formatVersion: DAG_KEY_FORMAT,
      stageName: 'test/stage',
      stageVersion: '3',
      configHash: 'c'.repeat(64),
      policyHash: null,
      rootInputHash: 'r'.repeat(64),
      codeFingerprint: null,
    };
    const withInputs = (n: number): CacheEntry => {
      const e = entry(n);
      return { ...e, provenance: { ...e.provenance, [KEY_INPUTS_FIELD]: inputs } };
    };
    await cache.put(key(1), withInputs(1));
    await cache.put(key(2), entry(2));
    expect(await cache.has(key(1))).toBe(true);
    const listed = [];
    for await (const info of cache.list()) listed.push(info);
    expect(listed.map((i) => i.key).sort()).toEqual([key(1), key(2)].sort());
    const one = listed.find((i) => i.key === key(1));
    expect(one).toMatchObject({
      nodeId: 'node-1',
      stage: 'test/stage',
      stageVersion: '3',
      keyInputs: inputs,
      size: fs.statSync(cache.pathOf(key(1))).size,
    });
    expect(one?.createdAt).toBeInstanceOf(Date);
    const lineage = await cache.lineage();
    expect(lineage.get('node-1')).toMatchObject({ key: key(1), keyInputs: inputs });
    expect(lineage.get('node-2')?.keyInputs).toBeUndefined();

    expect(await cache.delete(key(1))).toBe(true);
    expect(await cache.delete(key(1))).toBe(false);
    expect(await cache.has(key(1))).toBe(false);
    expect(await cache.stats()).toMatchObject({ entries: 1 });
  });

  it('verify() checks every entry and quarantines the bad ones', async () => {
    const cache = new DiskCache({ dir });
    for (let i = 0; i < 5; i++) await cache.put(key(i), entry(i));
    for (const i of [1, 3]) {
      const path = cache.pathOf(key(i));
      const bytes = fs.readFileSync(path);
      bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff;
      fs.writeFileSync(path, bytes);
    }
    const report = await cache.verify();
    expect(report).toMatchObject({ checked: 5, ok: 3, corrupt: 2 });
    expect(quarantined()).toHaveLength(2);
    expect(await cache.stats()).toMatchObject({ entries: 3, corrupt: 2, bytes: report.bytes });
    expect(await cache.verify()).toMatchObject({ checked: 3, ok: 3, corrupt: 0 });
  });

  it('gc() evicts to the limit and removes dead writers’ temp files and old quarantine', async () => {
    const writer = new DiskCache({ dir });
    for (let i = 0; i < 6; i++) await writer.put(key(i), entry(i));
    const size = (await writer.stats()).bytes / 6;
    const shard = join(dir, 'v1', key(0).slice(0, 2));
    const oldTemp = join(shard, `.${key(0)}.deadwriter1.tmp`);
    const freshTemp = join(shard, `.${key(0)}.livewriter1.tmp`);
    fs.writeFileSync(oldTemp, 'half an entry');
    fs.writeFileSync(freshTemp, 'being written');
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(oldTemp, hourAgo, hourAgo);
    fs.mkdirSync(join(dir, 'quarantine'));
    fs.writeFileSync(join(dir, 'quarantine', 'old'), 'x');
    const monthAgo = new Date(Date.now() - 30 * 86_400_000);
    fs.utimesSync(join(dir, 'quarantine', 'old'), monthAgo, monthAgo);

    const cache = new DiskCache({ dir, maxBytes: Math.floor(size * 4.5) });
    const report = await cache.gc();
    expect(report).toMatchObject({
      evicted: 2,
      tempFilesRemoved: 1,
      quarantineRemoved: 1,
      entries: 4,
    });
    expect(fs.existsSync(oldTemp)).toBe(false);
    expect(fs.existsSync(freshTemp)).toBe(true);
    expect((await cache.gc({ tempMaxAgeMs: 0 })).tempFilesRemoved).toBe(1);
  });

  it('clear() removes everything', async () => {
    const cache = new DiskCache({ dir });
    for (let i = 0; i < 4; i++) await cache.put(key(i), entry(i));
    const { bytes } = await cache.stats();
    expect(await cache.clear()).toEqual({ entries: 4, bytes });
    expect(await cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect(await cache.get(key(1))).toBeUndefined();
    await cache.put(key(1), entry(1));
    expect(await cache.get(key(1))).toEqual(entry(1));
  });
});

// The lineage `list()` reads from the entries is what planDag explains changes with.
describe('planDag over a DiskCache', () => {
  const initialState = { x: 1 };

  it('says which nodes are cached and why the others will run', async () => {
    const cache = new DiskCache({ dir });
    const cold = await planDag(pipeline(), cache, { initialState });
    expect(cold).toMatchObject({ cached: 0, toRun: 4 });
    expect(new Set(Object.values(why(cold)))).toEqual(
      new Set(['new key (no earlier result of this node in the cache)']),
    );
    await runAll(cold, cache);

    const warm = await planDag(pipeline(), cache, { initialState });
    expect(warm).toMatchObject({ cached: 4, toRun: 0 });

    const edited = await planDag(pipeline(5), cache, { initialState });
    expect(why(edited)).toEqual({
      load: 'cached',
      left: 'changed config',
      right: 'cached',
      join: 'changed upstream (left)',
    });

    const bumped = await planDag(pipeline(2, 2), cache, { initialState });
    expect(why(bumped)).toEqual({
      load: 'cached',
      left: 'cached',
      right: 'changed version (1 -> 2)',
      join: 'changed upstream (right)',
    });

    const seeded = await planDag(pipeline(), cache, { initialState, policy: { seed: 7 } });
    expect(seeded.nodes.every((n) => n.reasons.some((r) => r.kind === 'policy'))).toBe(true);
    const moved = await planDag(pipeline(), cache, { initialState: { x: 2 } });
    expect(why(moved).load).toBe('changed initial state');

    // Lineage lives in the entries: once a node's only entry is gone, nothing is known of it.
    await cache.delete(warm.nodes.find((n) => n.id === 'join')?.key as string);
    expect(why(await planDag(pipeline(), cache, { initialState })).join).toMatch(/^new key/);
  });
});

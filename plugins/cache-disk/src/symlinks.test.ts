// A shared cache is group-writable, so anyone in the group can plant a symbolic link inside it.
// The cache must never write, read or delete through one, and `verify` must name it.
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PhysError } from '@phys/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entry, key } from '../test/entries.js';
import { DiskCache } from './disk-cache.js';
import { SharedDiskCache } from './shared-disk-cache.js';

let root: string;
let dir: string;
let outside: string;
beforeEach(() => {
  root = fs.mkdtempSync(join(tmpdir(), 'phys-cache-links-'));
  dir = join(root, 'cache');
  outside = join(root, 'victim');
  fs.mkdirSync(dir);
  fs.mkdirSync(outside);
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

/** Every file under `path`, relative, sorted. */
function filesUnder(path: string): string[] {
  return (fs.readdirSync(path, { recursive: true }) as string[]).sort();
}

/** A file in the victim's directory, named like an entry (or anything), made old. */
function victimFile(name: string): string {
  const path = join(outside, name);
  fs.writeFileSync(path, 'precious');
  const old = new Date(Date.now() - 30 * 24 * 3_600_000);
  fs.utimesSync(path, old, old);
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<PhysError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PhysError.is(error), String(error)).toBe(true);
  return error as PhysError;
}

describe.each([
  ['DiskCache', (d: string) => new DiskCache({ dir: d })],
  ['SharedDiskCache', (d: string) => new SharedDiskCache({ dir: d })],
])('%s with symbolic links inside its directory', (_name, open) => {
  it('a symlinked shard directory: no entry is written, read or deleted through it', async () => {
    const k = key('through-a-link');
    const shard = k.slice(0, 2);
    // The victim's own file, named as the entry would be.
    const theirs = victimFile(k);
    fs.mkdirSync(join(dir, 'v1'));
    fs.symlinkSync(outside, join(dir, 'v1', shard));
    const cache = open(dir);

    const put = await rejection(cache.put(k, entry(1)));
    expect(put.code).toBe('PHYS_CACHE_DISK_UNSAFE');
    expect(put.message).toContain(join(dir, 'v1', shard));
    expect(put.message).toContain('symbolic link');
    expect((await rejection(cache.get(k))).code).toBe('PHYS_CACHE_DISK_UNSAFE');
    expect((await rejection(cache.delete(k))).code).toBe('PHYS_CACHE_DISK_UNSAFE');

    // Maintenance passes skip the link; the victim's directory is as it was.
    await cache.gc({ tempMaxAgeMs: 0, quarantineMaxAgeMs: 0 });
    await cache.clear();
    expect(filesUnder(outside)).toEqual([k]);
    expect(fs.readFileSync(theirs, 'utf8')).toBe('precious');

    const report = await cache.verify();
    expect(report.symlinks).toEqual([join(dir, 'v1', shard)]);
  });

  it('a symlinked quarantine/: damaged entries stay put, and gc and clear leave its target alone', async () => {
    const theirs = victimFile('old-results.dat');
    fs.symlinkSync(outside, join(dir, 'quarantine'));
    const cache = open(dir);
    const k = key('damaged');
    await cache.put(k, entry(2));
    // Damage the entry: the next read finds it corrupt and would move it to quarantine/.
    const path = cache.pathOf(k);
    const bytes = fs.readFileSync(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    fs.writeFileSync(path, bytes);

    expect(await cache.get(k)).toBeUndefined();
    expect((await cache.stats()).corrupt).toBe(1);
    expect(filesUnder(outside)).toEqual(['old-results.dat']);
    expect(fs.existsSync(path)).toBe(true);

    expect((await cache.gc({ quarantineMaxAgeMs: 0 })).quarantineRemoved).toBe(0);
    const report = await cache.verify();
    expect(report.symlinks).toEqual([join(dir, 'quarantine')]);
    expect(report.corrupt).toBe(1);
    await cache.clear();
    expect(filesUnder(outside)).toEqual(['old-results.dat']);
    expect(fs.readFileSync(theirs, 'utf8')).toBe('precious');
  });

  it('an entry that is a symbolic link is not read through, and a put replaces the link', async () => {
    const k = key('linked-entry');
    const cache = open(dir);
    await cache.put(k, entry(3));
    const path = cache.pathOf(k);
    // Someone swaps the entry for a link to a copy of it elsewhere.
    fs.renameSync(path, join(outside, 'copy'));
    fs.symlinkSync(join(outside, 'copy'), path);

    expect((await rejection(cache.get(k))).code).toBe('PHYS_CACHE_DISK_UNSAFE');
    expect((await cache.verify()).symlinks).toEqual([path]);
    await cache.put(k, entry(3));
    expect(fs.lstatSync(path).isSymbolicLink()).toBe(false);
    expect(await cache.get(k)).toEqual(entry(3));
    expect(filesUnder(outside)).toEqual(['copy']);
    expect((await cache.verify()).symlinks).toEqual([]);
  });
});

describe('SharedDiskCache with a symlinked locks/', () => {
  it('takes no lock through it, and gc removes nothing from its target', async () => {
    const theirs = victimFile('notes.txt');
    fs.symlinkSync(outside, join(dir, 'locks'));
    const cache = new SharedDiskCache({ dir });
    const error = await rejection(cache.getOrCompute(key('locked'), () => entry(4)));
    expect(error.code).toBe('PHYS_CACHE_DISK_UNSAFE');
    expect(error.message).toContain(join(dir, 'locks'));
    expect(filesUnder(outside)).toEqual(['notes.txt']);
    await cache.gc({ tempMaxAgeMs: 0 });
    expect(fs.readFileSync(theirs, 'utf8')).toBe('precious');
    expect((await cache.verify()).symlinks).toEqual([join(dir, 'locks')]);
  });
});

describe('the cache directory itself', () => {
  it('may be a symbolic link: where the cache lives is the user’s choice', async () => {
    const real = join(root, 'real-cache');
    fs.mkdirSync(real);
    fs.symlinkSync(real, join(root, 'linked-cache'));
    const cache = new DiskCache({ dir: join(root, 'linked-cache') });
    await cache.put(key(5), entry(5));
    expect(await cache.get(key(5))).toEqual(entry(5));
    expect(await cache.verify()).toMatchObject({ ok: 1, symlinks: [] });
  });
});

// Packages that name paths outside themselves (forged, with every hash recomputed) are refused
// by verify and load before anything is extracted, and a load that fails leaves nothing behind.
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PhysError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { renderManifest } from '../src/manifest.js';
import { loadPackage, ModelArtifactPackager } from '../src/packager.js';
import { verifyPackage } from '../src/verify.js';
import { type Entry, forgeArchive, forgeManifest, tarGz } from './forge.js';
import { tempDir } from './helpers.js';

async function packageFit(root: string) {
  return new ModelArtifactPackager({ root }).package('fit', {
    state: { w: [1, 2] },
    metrics: { loss: 0.5 },
    artifacts: { 'weights.bin': new Uint8Array([1, 2, 3]) },
  });
}

async function gone(path: string): Promise<boolean> {
  return stat(path).then(
    () => false,
    () => true,
  );
}

async function failure(promise: Promise<unknown>): Promise<PhysError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PhysError.is(error), `expected a PhysError, got ${String(error)}`).toBe(true);
  return error as PhysError;
}

describe('packages naming paths outside themselves', () => {
  it('verify reports a forged manifest listing ../../ (hashes recomputed) as not intact, with PHYS_PACKAGE_UNSAFE_PATH', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const forged = await forgeArchive(
      pkg,
      { '../../escape/x': 'planted' },
      join(dir, 'forged.tar.gz'),
    );
    const report = await verifyPackage(forged);
    expect(report.ok).toBe(false);
    expect(report.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    // The archive entry, then the manifest's listing of it.
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'unsafe-path', path: `fit-${pkg.version}/../../escape/x` }),
      expect.objectContaining({
        kind: 'unsafe-path',
        path: '../../escape/x',
        message: expect.stringContaining('the manifest lists "../../escape/x"'),
      }),
    ]);
  });

  it.each([
    ['an absolute POSIX path', '/tmp/x'],
    ['a Windows drive path', 'C:/x'],
    ['a Windows drive path with backslashes', 'C:\\x'],
    ['a drive-relative Windows path', 'c:x'],
    ['a UNC path', '\\\\server\\share\\x'],
    ['a UNC path with slashes', '//server/share/x'],
    ['a leading ..', '../x'],
    ['.. after a directory', 'files/../../x'],
    ['.. behind backslashes', 'files\\..\\..\\x'],
    ['a . segment', 'files/./x'],
    ['an empty segment', 'files//x'],
    ['a trailing slash', 'files/x/'],
    ['a lone .', '.'],
    ['a control character', 'files/a\u0001b'],
  ])('refuses %s in the manifest (%j)', async (_what, path) => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const forged = await forgeArchive(pkg, { [path]: 'planted' }, join(dir, 'forged.tar.gz'));
    const report = await verifyPackage(forged);
    expect(report.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'unsafe-path', path }));
    const error = await failure(loadPackage(forged, { extractTo: join(dir, 'out', 'model') }));
    expect(error.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    expect(await gone(join(dir, 'out'))).toBe(true);
  });

  it('loadPackage throws PHYS_PACKAGE_UNSAFE_PATH before extracting anything', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const forged = await forgeArchive(
      pkg,
      { '../../escape/x': 'planted' },
      join(dir, 'forged.tar.gz'),
    );
    const target = join(dir, 'out', 'a', 'model');
    await mkdir(target, { recursive: true });
    const error = await failure(loadPackage(forged, { extractTo: target }));
    expect(error.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    expect(error.message).toContain('"../../escape/x", which is not a path inside the package');
    expect(error.message).toContain('refused before anything was extracted');
    expect(await readdir(target)).toEqual([]);
    expect(await readdir(join(dir, 'out', 'a'))).toEqual(['model']);
    expect(await gone(join(dir, 'out', 'escape'))).toBe(true);
  });

  it('refuses a package directory whose manifest lists a file outside it', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const copy = join(dir, 'copy');
    await cp(pkg.path, copy, { recursive: true });
    await writeFile(join(dir, 'outside.txt'), 'planted');
    await writeFile(
      join(copy, 'manifest.json'),
      renderManifest(forgeManifest(pkg, { '../outside.txt': 'planted' })),
    );
    const report = await verifyPackage(copy);
    expect(report.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'unsafe-path', path: '../outside.txt' }),
    ]);
    expect((await failure(loadPackage(copy))).code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
  });

  it('reports archive entries outside the top directory as unsafe, listed or not', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const top = `fit-${pkg.version}`;
    const entries: Entry[] = [{ path: `${top}/manifest.json`, data: renderManifest(pkg.manifest) }];
    for (const f of pkg.manifest.files) {
      entries.push({
        path: `${top}/${f.path}`,
        data: await readFile(join(pkg.path, f.path)),
      });
    }
    const file = join(dir, 'extra.tar.gz');
    await writeFile(
      file,
      tarGz([
        ...entries,
        { path: `${top}/../../escape/y`, data: 'y' },
        { path: '/abs/z', data: 'z' },
      ]),
    );
    const report = await verifyPackage(file);
    expect(report.code).toBe('PHYS_PACKAGE_UNSAFE_PATH');
    expect(report.problems.map((p) => `${p.kind} ${p.path}`)).toEqual([
      `unsafe-path ${top}/../../escape/y`,
      'unsafe-path /abs/z',
    ]);
  });
});

describe('load', () => {
  it('leaves nothing behind when an extraction fails midway', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    // Safe paths and true hashes, so it verifies; but files/a is a file and a directory, so
    // extraction fails after it has written the first files.
    const forged = await forgeArchive(
      pkg,
      { 'files/a': 'A', 'files/a/b': 'B' },
      join(dir, 'clash.tar.gz'),
    );
    expect((await verifyPackage(forged)).ok).toBe(true);
    const parent = join(dir, 'out');
    const target = join(parent, 'model');
    const error = await failure(loadPackage(forged, { extractTo: target }));
    expect(error.code).toBe('PHYS_PACKAGE_EXTRACT_FAILED');
    expect(error.message).toContain('Nothing was left behind');
    expect(['EEXIST', 'ENOTDIR']).toContain(error.details?.errno);
    expect(await readdir(parent)).toEqual([]);

    await mkdir(target);
    await failure(loadPackage(forged, { extractTo: target }));
    expect(await readdir(parent)).toEqual(['model']);
    expect(await readdir(target)).toEqual([]);
  });

  it('extracts into a new or empty directory, or over the same package, and refuses other content', async () => {
    const dir = await tempDir();
    const pkg = await packageFit(join(dir, 'models'));
    const target = join(dir, 'out', 'model');
    const first = await loadPackage(pkg.archive as string, { extractTo: target, state: true });
    expect(first.state).toEqual({ w: [1, 2] });
    const again = await loadPackage(pkg.archive as string, { extractTo: target });
    expect(again.path).toBe(target);
    expect((await readdir(target)).sort()).toEqual([
      'README.md',
      'files',
      'manifest.json',
      'state.bin',
    ]);
    expect(await readdir(join(dir, 'out'))).toEqual(['model']);

    const other = join(dir, 'other');
    await mkdir(other);
    await writeFile(join(other, 'keep.txt'), 'mine');
    const error = await failure(loadPackage(pkg.archive as string, { extractTo: other }));
    expect(error.code).toBe('PHYS_USAGE');
    expect(await readdir(other)).toEqual(['keep.txt']);
  });
});

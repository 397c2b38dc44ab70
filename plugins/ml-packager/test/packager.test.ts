import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PhysError } from '@phys/core';
import { FileArtifactRecorder } from '@phys/runtime';
import * as tar from 'tar';
import { describe, expect, it } from 'vitest';
import { hashFile } from '../src/files.js';
import { loadPackage, ModelArtifactPackager } from '../src/packager.js';
import { verifyPackage, verifyPackageOrThrow } from '../src/verify.js';
import { tempDir } from './helpers.js';

const weights = new Float64Array([0.5, -1.25, 3e-8]);

async function packageOne(root: string, overrides: Record<string, unknown> = {}) {
  const recorder = new FileArtifactRecorder(join(root, '..', 'recorded'));
  const recorded = await recorder.record('fit.history', 'epoch,loss\n1,0.5\n2,0.25\n');
  const packager = new ModelArtifactPackager({ root });
  const pkg = await packager.package(
    'train[lr=0.01]',
    {
      state: { weights, epochs: 2, label: 'linear' },
      metrics: { loss: 0.25 },
      artifacts: {
        'weights.bin': new Uint8Array(weights.buffer),
        notes: 'trained on the small set',
        'model/config': { layers: [1, 2], activation: 'tanh' },
        history: { ...recorded },
        bestEpoch: 2,
        converged: true,
        lazy: () => 'made on demand',
        ...overrides,
      },
      provenance: { wallTimeSeconds: 1.5 },
    },
    {
      stage: { name: 'demo/train', version: '3', label: 'train', configHash: 'abc' },
      config: { lr: 0.01, epochs: 2 },
      cacheKey: 'k-train',
      lineage: [{ nodeId: 'load', cacheKey: 'k-load' }],
      runId: 'run-1',
    },
  );
  return { packager, pkg };
}

describe('ModelArtifactPackager.package', () => {
  it('writes a versioned directory: state, model files, manifest, model card, and a .tar.gz', async () => {
    const root = join(await tempDir(), 'models');
    const { pkg } = await packageOne(root);
    expect(pkg.reused).toBe(false);
    expect(pkg.version).toMatch(/^[0-9a-f]{16}$/);
    expect(pkg.manifest.contentHash.startsWith(pkg.version)).toBe(true);
    expect(pkg.path).toBe(join(root, 'train[lr=0.01]', pkg.version));
    expect(pkg.archive).toBe(`${pkg.path}.tar.gz`);

    const manifest = JSON.parse(await readFile(join(pkg.path, 'manifest.json'), 'utf8'));
    expect(manifest).toEqual(pkg.manifest);
    expect(manifest).toMatchObject({
      format: 'phys-model-package/1',
      name: 'train[lr=0.01]',
      node: { id: 'train[lr=0.01]', runId: 'run-1', cached: false },
      stage: { name: 'demo/train', version: '3', label: 'train', configHash: 'abc' },
      config: { lr: 0.01, epochs: 2 },
      metrics: { loss: 0.25 },
      provenance: {
        cacheKey: 'k-train',
        lineage: [{ nodeId: 'load', cacheKey: 'k-load' }],
        run: { wallTimeSeconds: 1.5 },
      },
      values: { bestEpoch: 2, converged: true },
      environment: { node: process.version, platform: process.platform, arch: process.arch },
    });
    expect(manifest.environment.packages['@phys/ml-packager']).toBe('0.1.0');
    expect(manifest.environment.packages['@phys/core']).toMatch(/^\d+\.\d+\.\d+/);

    const paths = manifest.files.map((f: { path: string }) => f.path);
    expect(paths).toEqual([
      'state.bin',
      'files/history.txt',
      'files/lazy.txt',
      'files/model/config.json',
      'files/notes.txt',
      'files/weights.bin',
      'README.md',
    ]);
    for (const file of manifest.files) {
      expect(await hashFile(join(pkg.path, file.path))).toEqual({
        sha256: file.sha256,
        bytes: file.bytes,
      });
    }
    expect(await readFile(join(pkg.path, 'files/weights.bin'))).toEqual(
      Buffer.from(weights.buffer),
    );
    expect(await readFile(join(pkg.path, 'files/lazy.txt'), 'utf8')).toBe('made on demand');
    expect(JSON.parse(await readFile(join(pkg.path, 'files/model/config.json'), 'utf8'))).toEqual({
      layers: [1, 2],
      activation: 'tanh',
    });

    const card = await readFile(join(pkg.path, 'README.md'), 'utf8');
    expect(card).toContain('# Model `train[lr=0.01]`, version');
    expect(card).toContain('| loss | 0.25 |');
    expect(card).toContain('| `load` | `k-load` |');
    expect(card).toContain(`phys package verify train[lr=0.01]/${pkg.version}`);
    expect(card).toContain(`${manifest.files[0].sha256}  state.bin`);

    const entries: string[] = [];
    await tar.t({ file: pkg.archive as string, onReadEntry: (e) => entries.push(e.path) });
    expect(entries).toEqual(
      [
        'README.md',
        'files/history.txt',
        'files/lazy.txt',
        'files/model/config.json',
        'files/notes.txt',
        'files/weights.bin',
        'manifest.json',
        'state.bin',
      ].map((p) => `train[lr=0.01]-${pkg.version}/${p}`),
    );
  });

  it('names packages by content: the same model again is kept, another gets another version', async () => {
    const root = await tempDir();
    const first = await packageOne(root);
    const again = await packageOne(root);
    expect(again.pkg.reused).toBe(true);
    expect(again.pkg.path).toBe(first.pkg.path);
    expect(again.pkg.manifest.createdAt).toBe(first.pkg.manifest.createdAt);
    const other = await packageOne(root, { notes: 'retrained' });
    expect(other.pkg.version).not.toBe(first.pkg.version);
    expect((await readdir(join(root, 'train[lr=0.01]'))).sort()).toEqual(
      [
        first.pkg.version,
        `${first.pkg.version}.tar.gz`,
        other.pkg.version,
        `${other.pkg.version}.tar.gz`,
      ].sort(),
    );
  });

  it('refuses to overwrite an explicit version with other content', async () => {
    const root = await tempDir();
    const packager = new ModelArtifactPackager({ root, archive: false });
    const one = await packager.package('fit', { state: 1 }, { version: '1.0.0' });
    expect(one.path).toBe(join(root, 'fit', '1.0.0'));
    expect(one.archive).toBeUndefined();
    expect((await packager.package('fit', { state: 1 }, { version: '1.0.0' })).reused).toBe(true);
    await expect(packager.package('fit', { state: 2 }, { version: '1.0.0' })).rejects.toMatchObject(
      {
        code: 'PHYS_PACKAGE_EXISTS',
      },
    );
    await expect(packager.package('fit', { state: 2 }, { version: '../x' })).rejects.toThrow(
      /not usable as a directory name/,
    );
  });

  it('replaces a damaged package of the same content instead of keeping it', async () => {
    const root = await tempDir();
    const first = await packageOne(root);
    await writeFile(join(first.pkg.path, 'files/notes.txt'), 'tampered');
    const again = await packageOne(root);
    expect(again.pkg.reused).toBe(false);
    expect((await verifyPackage(again.pkg.path)).ok).toBe(true);
    expect((await verifyPackage(again.pkg.archive as string)).ok).toBe(true);
  });

  it('rejects artifacts it cannot write, and recorded files that changed', async () => {
    const root = await tempDir();
    await expect(packageOne(root, { when: new Date(0) })).rejects.toMatchObject({
      code: 'PHYS_PACKAGE_ARTIFACT_INVALID',
      message: expect.stringContaining("Artifact 'when': cannot package a Date"),
    });
    await expect(packageOne(root, { 'a//b': 'x' })).rejects.toThrow(/empty path segment/);
    await expect(packageOne(root, { 'notes.txt': 'twice' })).rejects.toThrow(
      /would be written to files\/notes.txt, like artifact 'notes'/,
    );
    const recorder = new FileArtifactRecorder(join(root, 'rec'));
    const ref = await recorder.record('w', new Uint8Array([1, 2, 3]));
    await writeFile(ref.path, new Uint8Array([9]));
    await expect(packageOne(root, { w: ref })).rejects.toThrow(/changed since it was recorded/);
    // nothing half-written is left behind
    const names = await readdir(join(root, 'train[lr=0.01]'));
    expect(names.filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('records the git commit of the project directory, and none outside a work tree', async () => {
    const outside = await tempDir();
    const plain = new ModelArtifactPackager({ root: join(outside, 'm'), projectDir: outside });
    const a = await plain.package('n', { state: 0 });
    expect(a.manifest.environment.git).toBeUndefined();

    const repo = await tempDir();
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: repo,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@e',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@e',
        },
      });
    git('init', '-q');
    await writeFile(join(repo, 'x.txt'), 'x');
    git('add', '.');
    git('commit', '-q', '-m', 'x');
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const inside = new ModelArtifactPackager({ root: join(repo, 'models'), projectDir: repo });
    const b = await inside.package('n', { state: 0 });
    // the models directory itself is untracked, so the tree counts as dirty
    expect(b.manifest.environment.git).toEqual({ commit: head, dirty: true });
  });
});

describe('verify', () => {
  it('passes an intact directory and archive', async () => {
    const { pkg, packager } = await packageOne(await tempDir());
    for (const path of [pkg.path, pkg.archive as string]) {
      const report = await packager.verify(path);
      expect(report).toMatchObject({ ok: true, problems: [], checked: 7 });
      expect(report.manifest?.contentHash).toBe(pkg.manifest.contentHash);
    }
    expect((await packager.verify(pkg.path)).kind).toBe('directory');
    expect((await packager.verify(pkg.archive as string)).kind).toBe('archive');
  });

  it('detects a changed, a missing and an added file in a directory', async () => {
    const { pkg } = await packageOne(await tempDir());
    await writeFile(join(pkg.path, 'files/weights.bin'), new Uint8Array(24));
    await rm(join(pkg.path, 'files/notes.txt'));
    await writeFile(join(pkg.path, 'files/extra.bin'), 'x');
    await writeFile(join(pkg.path, 'README.md'), 'edited card, a different length');
    const report = await verifyPackage(pkg.path);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => `${p.kind} ${p.path}`)).toEqual([
      'missing files/notes.txt',
      'changed files/weights.bin',
      'changed README.md',
      'added files/extra.bin',
    ]);
    const changed = report.problems.find((p) => p.path === 'files/weights.bin');
    expect(changed?.message).toMatch(/^content changed \(sha256 [0-9a-f]{64}, manifest says/);
    expect(changed?.expected?.bytes).toBe(24);
  });

  it('detects an edited or reformatted manifest, a symlink, and a missing manifest', async () => {
    const { pkg } = await packageOne(await tempDir());
    const manifestPath = join(pkg.path, 'manifest.json');
    const text = await readFile(manifestPath, 'utf8');
    await writeFile(manifestPath, text.replace('"loss": 0.25', '"loss": 0.01'));
    let report = await verifyPackage(pkg.path);
    expect(report.problems.map((p) => p.message)).toEqual([
      'its content does not match its integrity hash: a field was edited',
      'its contentHash does not match the stage, config, metrics, lineage and files it lists',
    ]);

    await writeFile(manifestPath, JSON.stringify(JSON.parse(text)));
    report = await verifyPackage(pkg.path);
    expect(report.problems.map((p) => p.kind)).toEqual(['manifest-invalid']);
    expect(report.problems[0]?.message).toContain('reformatted or edited');

    await writeFile(manifestPath, text);
    await symlink('/etc/hostname', join(pkg.path, 'files/link'));
    report = await verifyPackage(pkg.path);
    expect(report.problems).toMatchObject([{ kind: 'unexpected-entry', path: 'files/link' }]);

    await rm(join(pkg.path, 'files/link'));
    await rm(manifestPath);
    report = await verifyPackage(pkg.path);
    expect(report.problems.map((p) => p.kind)).toEqual(['manifest-missing']);
  });

  it('detects a changed, a missing and an added file in an archive', async () => {
    const dir = await tempDir();
    const { pkg } = await packageOne(join(dir, 'models'));
    const top = `train[lr=0.01]-${pkg.version}`;
    const work = join(dir, 'work');
    await tar.x({ file: pkg.archive as string, cwd: await mkdirp(work) });
    await writeFile(join(work, top, 'state.bin'), 'not the state');
    await rm(join(work, top, 'files/history.txt'));
    await writeFile(join(work, top, 'files/new.txt'), 'new');
    const repacked = join(dir, 'repacked.tar.gz');
    await tar.c({ gzip: true, file: repacked, cwd: work }, [top]);
    const report = await verifyPackage(repacked);
    expect(report.kind).toBe('archive');
    expect(report.problems.map((p) => `${p.kind} ${p.path}`)).toEqual([
      'changed state.bin',
      'missing files/history.txt',
      'added files/new.txt',
    ]);
  });

  it('reports a corrupt archive and one with two top directories', async () => {
    const dir = await tempDir();
    const { pkg } = await packageOne(join(dir, 'models'));
    const bytes = await readFile(pkg.archive as string);
    const corrupt = join(dir, 'corrupt.tar.gz');
    await writeFile(corrupt, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const broken = await verifyPackage(corrupt);
    expect(broken.ok).toBe(false);
    expect(broken.problems[0]?.kind).toBe('archive-invalid');

    const work = join(dir, 'work');
    await tar.x({ file: pkg.archive as string, cwd: await mkdirp(work) });
    await mkdirp(join(work, 'other'));
    await writeFile(join(work, 'other', 'x.txt'), 'x');
    const two = join(dir, 'two.tar.gz');
    await tar.c({ gzip: true, file: two, cwd: work }, (await readdir(work)).sort());
    const report = await verifyPackage(two);
    expect(report.problems.map((p) => p.kind)).toContain('archive-invalid');
  });

  it('verifyOrThrow throws PHYS_PACKAGE_INVALID listing the problems; a missing path is PHYS_PACKAGE_NOT_FOUND', async () => {
    const { pkg, packager } = await packageOne(await tempDir());
    await writeFile(join(pkg.path, 'files/notes.txt'), 'tampered');
    const error = await packager.verifyOrThrow(pkg.path).catch((e: unknown) => e);
    expect(PhysError.is(error)).toBe(true);
    expect(error).toMatchObject({ code: 'PHYS_PACKAGE_INVALID' });
    expect((error as PhysError).message).toContain('changed files/notes.txt: content changed');
    expect((error as PhysError).details?.problems).toHaveLength(1);
    await expect(verifyPackageOrThrow(join(pkg.path, 'nope'))).rejects.toMatchObject({
      code: 'PHYS_PACKAGE_NOT_FOUND',
    });
  });
});

describe('load', () => {
  it('returns the typed manifest, absolute file paths and the decoded state, from a directory or an archive', async () => {
    const dir = await tempDir();
    const { pkg } = await packageOne(join(dir, 'models'));
    const fromDir = await loadPackage(pkg.path, { state: true });
    expect(fromDir.path).toBe(pkg.path);
    expect(fromDir.files['files/weights.bin']).toBe(join(pkg.path, 'files', 'weights.bin'));
    expect(fromDir.state).toEqual({ weights, epochs: 2, label: 'linear' });
    expect((fromDir.state as { weights: unknown }).weights).toBeInstanceOf(Float64Array);

    const target = join(dir, 'extracted');
    const fromArchive = await loadPackage(pkg.archive as string, {
      state: true,
      extractTo: target,
    });
    expect(fromArchive.path).toBe(target);
    expect(fromArchive.manifest).toEqual(pkg.manifest);
    expect(await readFile(fromArchive.files['files/notes.txt'] as string, 'utf8')).toBe(
      'trained on the small set',
    );
    expect(fromArchive.state).toEqual(fromDir.state);
    const noState = await loadPackage(pkg.path);
    expect('state' in noState).toBe(false);
  });

  it('refuses a package that fails verification', async () => {
    const { pkg } = await packageOne(await tempDir());
    await writeFile(join(pkg.path, 'state.bin'), 'x');
    await expect(loadPackage(pkg.path, { state: true })).rejects.toMatchObject({
      code: 'PHYS_PACKAGE_INVALID',
    });
  });
});

async function mkdirp(dir: string): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  return dir;
}

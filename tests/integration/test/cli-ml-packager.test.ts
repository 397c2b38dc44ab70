// `phys package verify`, which @phys/ml-packager adds to the CLI, run through the CLI's own entry
// point (as the `phys` binary runs it) in a project whose config lists the plugin; and `phys run`
// of a node whose model package cannot be written.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';
import { ModelArtifactPackager } from '@phys/ml-packager';
import { afterAll, describe, expect, it } from 'vitest';
import { fixture, cli as phys } from './helpers/cli.js';
import { forgeArchive } from './helpers/forge-package.js';

const project = fileURLToPath(new URL('./fixtures/cli-ml-packager', import.meta.url));
const scratch = mkdtemp(join(tmpdir(), 'phys-cli-package-'));
afterAll(async () => rm(await scratch, { recursive: true, force: true }));

/** `phys` in this process; `cwd` is where relative paths resolve, the config is the fixture's. */
async function cli(argv: readonly string[], options: { cwd?: string } = {}) {
  let stdout = '';
  let stderr = '';
  const cwd = options.cwd ?? project;
  const code = await runCli(cwd === project ? argv : [...argv, '--cwd', project], {
    cwd,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    isTTY: false,
  });
  return { code, stdout, stderr };
}

async function makePackage() {
  const root = join(await mkdtemp(join(await scratch, 'p-')), 'models');
  const packager = new ModelArtifactPackager({ root });
  return packager.package('fit', {
    state: { w: [1, 2] },
    metrics: { loss: 0.5 },
    artifacts: { 'weights.bin': new Uint8Array([1, 2, 3]), notes: 'ok' },
  });
}

describe('phys package verify', () => {
  it('is listed under `phys package --help`', async () => {
    const { code, stdout } = await cli(['package', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/verify \[options\] <path>\s+check a model package/);
  });

  it('exits 0 for an intact directory and archive, with a relative path too', async () => {
    const pkg = await makePackage();
    const dir = await cli(['package', 'verify', pkg.path]);
    expect(dir.code).toBe(0);
    expect(dir.stdout).toMatch(
      new RegExp(`^✓ fit ${pkg.version} \\(.+\\): intact, 4 files checked \\(directory\\)$`, 'm'),
    );
    const cwd = await scratch;
    const archive = await cli(['package', 'verify', relative(cwd, pkg.archive as string)], { cwd });
    expect(archive.code).toBe(0);
    expect(archive.stdout).toContain('(archive)');
  });

  it('exits 1 with a readable list of problems, or a JSON report', async () => {
    const pkg = await makePackage();
    await writeFile(join(pkg.path, 'files', 'weights.bin'), 'changed!');
    await rm(join(pkg.path, 'files', 'notes.txt'));
    await writeFile(join(pkg.path, 'extra.txt'), 'x');
    const text = await cli(['package', 'verify', pkg.path]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`✗ fit ${pkg.version}`);
    expect(text.stdout).toContain('3 problems');
    expect(text.stdout).toMatch(
      /^ {2}missing\s+files\/notes\.txt\s+listed in the manifest but missing$/m,
    );
    expect(text.stdout).toMatch(
      /^ {2}changed\s+files\/weights\.bin\s+content changed \(8 bytes, manifest says 3\)$/m,
    );
    expect(text.stdout).toMatch(/^ {2}added\s+extra\.txt\s+not listed in the manifest$/m);

    const json = await cli(['package', 'verify', pkg.path, '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: false, kind: 'directory', name: 'fit', exitCode: 1 });
    expect(report.problems.map((p: { kind: string }) => p.kind)).toEqual([
      'missing',
      'changed',
      'added',
    ]);
  });

  it('exits 1 with PHYS_PACKAGE_NOT_FOUND for a path that does not exist', async () => {
    const { code, stderr } = await cli(['package', 'verify', join(await scratch, 'nope')]);
    expect(code).toBe(1);
    expect(stderr).toContain('error PHYS_PACKAGE_NOT_FOUND: No model package at');
  });
});

describe('phys package verify, on a forged package', () => {
  it('exits 1 with PHYS_PACKAGE_UNSAFE_PATH for an archive whose manifest lists ../../ (hashes recomputed)', async () => {
    const pkg = await makePackage();
    const forged = await forgeArchive(
      pkg,
      '../../escape/x',
      'planted',
      join(await scratch, `forged-${pkg.version}.tar.gz`),
    );
    const text = await cli(['package', 'verify', forged]);
    expect(text.code).toBe(1);
    expect(text.stdout).not.toContain('intact');
    expect(text.stdout).toMatch(/^✗ fit \S+ \(.+\): 2 problems \(PHYS_PACKAGE_UNSAFE_PATH\)$/m);
    expect(text.stdout).toMatch(
      /^ {2}unsafe-path\s+\.\.\/\.\.\/escape\/x\s+the manifest lists "\.\.\/\.\.\/escape\/x", which is not a path inside the package: it has a '\.\.' segment/m,
    );
    const json = JSON.parse((await cli(['package', 'verify', forged, '--json'])).stdout);
    expect(json).toMatchObject({ ok: false, code: 'PHYS_PACKAGE_UNSAFE_PATH', exitCode: 1 });
  });
});

describe('phys run, when a model package cannot be written', () => {
  it('fails the node and exits 1, naming the errno rather than guessing', async () => {
    const { code, stdout, stderr } = await phys(['run', 'train'], {
      cwd: fixture('cli-package-blocked'),
    });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ train: FAILED/m);
    expect(stderr).toMatch(
      /^ {2}fit FAILED: PHYS_PACKAGE_WRITE_FAILED Cannot write the model package of node 'fit' under .*: ENOTDIR/m,
    );
    expect(`${stdout}${stderr}`).not.toMatch(/space/);
  });
});

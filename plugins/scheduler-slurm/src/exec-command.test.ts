import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveExecCommand } from './exec-command.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'phys-slurm-exec-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('resolveExecCommand', () => {
  it('prefers the phys CLI installed beside the config, run by this Node.js', async () => {
    const project = join(root, 'project');
    const cli = join(project, 'node_modules', '@phys', 'cli');
    await mkdir(join(cli, 'dist'), { recursive: true });
    await writeFile(
      join(cli, 'package.json'),
      JSON.stringify({ name: '@phys/cli', bin: { phys: './dist/bin.js' } }),
    );
    await writeFile(join(cli, 'dist', 'bin.js'), '');
    await writeFile(join(project, 'phys.config.ts'), 'export default {};\n');
    expect(resolveExecCommand(join(project, 'phys.config.ts'))).toEqual([
      process.execPath,
      join(cli, 'dist', 'bin.js'),
      'exec',
    ]);
  });
});

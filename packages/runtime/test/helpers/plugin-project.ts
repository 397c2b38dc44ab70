import { cp, mkdtemp, realpath, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const coreDir = resolve(here, '../../../core');
const fixture = resolve(here, '../fixtures/plugin-project');

/** A throw-away project on disk with real plugin packages in node_modules. */
export interface PluginProject {
  readonly dir: string;
  remove(): Promise<void>;
}

/**
 * Copies the `plugin-project` fixture to a temporary directory and gives it a real
 * `node_modules`: the fixture's packages (committed as `_node_modules`, since git ignores
 * `node_modules`), plus links to this @phys/core and to zod, as a package manager would install.
 */
export async function createPluginProject(): Promise<PluginProject> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), 'phys-plugin-project-')));
  await cp(fixture, dir, { recursive: true });
  await rename(join(dir, '_node_modules'), join(dir, 'node_modules'));
  await symlink(coreDir, join(dir, 'node_modules/@phys/core'), 'dir');
  await symlink(
    await realpath(join(coreDir, 'node_modules/zod')),
    join(dir, 'node_modules/zod'),
    'dir',
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The fixtures directory inside this package. */
export const fixturesDir = resolve(here, '../fixtures');

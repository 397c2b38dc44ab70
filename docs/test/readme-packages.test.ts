// The root README's package table against the workspace: every package, plugin and example is
// listed, and so is every command a plugin adds to `phys`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)), '..');
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const table = readme.slice(
  readme.indexOf('## Packages'),
  readme.indexOf('\n## ', readme.indexOf('## Packages') + 1),
);

/** The directories of `parent` that hold a package.json. */
function packagesUnder(parent: string): string[] {
  return readdirSync(join(repo, parent), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(repo, parent, d.name, 'package.json')))
    .map((d) => `${parent}/${d.name}`);
}

describe('README.md package table', () => {
  it('lists every package, plugin and example of the workspace', () => {
    const dirs = ['packages', 'plugins', 'examples'].flatMap(packagesUnder);
    expect(dirs.length).toBeGreaterThan(10);
    expect(dirs.filter((dir) => !table.includes(`[${dir}](${dir})`))).toEqual([]);
  });

  it('names the commands that plugins add', () => {
    for (const command of ['`phys sweep`', '`phys package verify`']) {
      expect(table).toContain(command);
    }
  });
});

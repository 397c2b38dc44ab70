// `phys config` with plugins installed as packages: each plugin's version is its package's.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { cli, fixture } from './helpers/cli.js';

const require = createRequire(import.meta.url);
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string })
    .version;

describe('phys config', () => {
  it('--json gives plugins[].version: the installed package version', async () => {
    const { code, stdout } = await cli(['config', '--json'], { cwd: fixture('cli-docs') });
    expect(code).toBe(0);
    expect(JSON.parse(stdout).plugins).toEqual([
      expect.objectContaining({ name: 'executor-dag', version: versionOf('@phys/executor-dag') }),
      expect.objectContaining({ name: 'sweep', version: versionOf('@phys/sweep') }),
      expect.objectContaining({ name: 'ml-packager', version: versionOf('@phys/ml-packager') }),
      expect.objectContaining({ name: 'server', version: versionOf('@phys/server') }),
    ]);
  });

  it('prints the versions in the plugins table', async () => {
    const { stdout } = await cli(['config'], { cwd: fixture('cli-docs') });
    expect(stdout).toMatch(
      new RegExp(`^ {2}sweep +${versionOf('@phys/sweep').replace(/\./g, '\\.')} +sweep$`, 'm'),
    );
  });
});

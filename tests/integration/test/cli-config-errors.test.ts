// What `phys` prints for a config with a misspelled plugin name or plugin option, in a temporary
// project that has the executor-dag and cache-disk plugins installed.
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

let project: string;

const configs: Readonly<Record<string, string>> = {
  'name.config.ts': `
import { defineConfig } from '@phys/core';
export default defineConfig({ plugins: ['exector-dag'] });
`,
  'string-option.config.ts': `
import { defineConfig } from '@phys/core';
export default defineConfig({ plugins: ['executor-dag', ['cache-disk', { maxByts: '1Gi' }]] });
`,
  'factory-option.config.ts': `
import { defineConfig } from '@phys/core';
import cacheDisk from '@phys/cache-disk';
export default defineConfig({ plugins: [cacheDisk({ maxByts: '1Gi' } as never)] });
`,
};

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-cli-config-errors-'));
  const modules = fileURLToPath(new URL('../node_modules', import.meta.url));
  await symlink(modules, join(project, 'node_modules'), 'dir');
  for (const [file, text] of Object.entries(configs)) await writeFile(join(project, file), text);
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe('a misspelled plugin name', () => {
  it('is answered with the closest plugin, not with a package made of the typo', async () => {
    const { code, stderr } = await cli(['config', '-c', 'name.config.ts'], { cwd: project });
    expect(code).toBe(78);
    expect(stderr).toContain(
      "error PHYS_PLUGIN_NOT_FOUND: [exector-dag] Cannot find plugin 'exector-dag'",
    );
    expect(stderr).toContain("Did you mean 'executor-dag'?");
    expect(stderr).not.toContain('pnpm add phys-plugin-exector-dag');
  });
});

describe('a misspelled plugin option', () => {
  for (const [form, file] of [
    ['[name, options]', 'string-option.config.ts'],
    ['the factory', 'factory-option.config.ts'],
  ] as const) {
    for (const command of [['config'], ['run', 'any']]) {
      it(`given to ${form} is printed once by phys ${command[0]}`, async () => {
        const { code, stderr } = await cli([...command, '-c', file], { cwd: project });
        expect(code).toBe(78);
        expect(stderr).toMatch(
          /^error PHYS_CONFIG_INVALID: .*Invalid options for plugin 'cache-disk'/m,
        );
        expect(occurrences(stderr, 'plugins.cache-disk.maxByts: unknown key')).toBe(1);
        expect(occurrences(stderr, "Invalid options for plugin 'cache-disk'")).toBe(1);
      });
    }
  }
});

import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_FILE_NAMES, ConfigError, isStageDefinition } from '@phys/core';
import { loadConfig } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from './helpers/plugin-project.js';

async function failure(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('loadConfig: finding the file', () => {
  let empty: string;
  beforeAll(async () => {
    empty = await realpath(await mkdtemp(join(tmpdir(), 'phys-no-config-')));
  });
  afterAll(async () => {
    await rm(empty, { recursive: true, force: true });
  });

  it('loads phys.config.ts from cwd, with its extensionless import of a sibling .ts file', async () => {
    const loaded = await loadConfig({ cwd: join(fixturesDir, 'project') });
    expect(loaded.filepath).toBe(join(fixturesDir, 'project/phys.config.ts'));
    expect(loaded.configDir).toBe(join(fixturesDir, 'project'));
    expect(loaded.config.stages?.map((s) => s.stageName)).toEqual(['beam/scale', 'beam/shift']);
    expect(loaded.config.stages?.every(isStageDefinition)).toBe(true);
    expect(loaded.config.policy).toEqual({ seed: 7 });
  });

  it('searches upward: a workspace-root config is found from a package below it', async () => {
    const loaded = await loadConfig({ cwd: join(fixturesDir, 'upward/packages/app/src') });
    expect(loaded.filepath).toBe(join(fixturesDir, 'upward/phys.config.mjs'));
    expect(loaded.config.policy).toEqual({ found: 'workspace root' });
  });

  it('loads .json, .mjs and YAML .physrc configs', async () => {
    const json = await loadConfig({ cwd: join(fixturesDir, 'json') });
    expect(json.config).toEqual({
      cacheDir: 'cache-from-json',
      logLevel: 'warn',
      policy: { source: 'json' },
    });
    const mjs = await loadConfig({ cwd: join(fixturesDir, 'mjs') });
    expect(mjs.filepath.endsWith('phys.config.mjs')).toBe(true);
    expect(mjs.config.policy).toEqual({ source: 'mjs' });
    const rc = await loadConfig({ cwd: join(fixturesDir, 'physrc') });
    expect(rc.filepath.endsWith('.physrc')).toBe(true);
    expect(rc.config).toEqual({ logLevel: 'error', policy: { source: 'physrc' } });
  });

  it('loads an explicit config file, relative to cwd', async () => {
    const loaded = await loadConfig({ cwd: fixturesDir, configFile: 'json/phys.config.json' });
    expect(loaded.filepath).toBe(join(fixturesDir, 'json/phys.config.json'));
  });

  it('calls a function-form config with { command, mode } and awaits it', async () => {
    const cwd = join(fixturesDir, 'function-form');
    const dev = await loadConfig({ cwd, command: 'plan', mode: 'development' });
    expect(dev.config).toEqual({
      policy: { command: 'plan', mode: 'development' },
      logLevel: 'debug',
    });
    expect(dev.env).toEqual({ command: 'plan', mode: 'development' });
    const prod = await loadConfig({ cwd, mode: 'production' });
    expect(prod.config).toEqual({
      policy: { command: 'run', mode: 'production' },
      logLevel: 'warn',
    });
  });

  it('PHYS_CONFIG_NOT_FOUND says where it searched and for which file names', async () => {
    const error = await failure(loadConfig({ cwd: empty, stopDir: empty }));
    expect(error.code).toBe('PHYS_CONFIG_NOT_FOUND');
    expect(error.message).toContain(empty);
    for (const name of CONFIG_FILE_NAMES) expect(error.message).toContain(name);
    expect(error.details?.searched).toEqual([empty]);
  });

  it('the upward search covers every directory up to stopDir', async () => {
    const nested = join(empty, 'a/b');
    await mkdir(nested, { recursive: true });
    const error = await failure(loadConfig({ cwd: nested, stopDir: empty }));
    expect(error.details?.searched).toEqual([nested, join(empty, 'a'), empty]);
  });

  it('PHYS_CONFIG_NOT_FOUND for an explicit file that does not exist', async () => {
    const error = await failure(loadConfig({ cwd: empty, configFile: 'phys.config.ts' }));
    expect(error.code).toBe('PHYS_CONFIG_NOT_FOUND');
    expect(error.message).toContain(join(empty, 'phys.config.ts'));
  });
});

describe('loadConfig: failures inside the file', () => {
  it('PHYS_CONFIG_LOAD_FAILED names the file and keeps the thrown error as cause', async () => {
    const error = await failure(loadConfig({ cwd: join(fixturesDir, 'throws') }));
    expect(error.code).toBe('PHYS_CONFIG_LOAD_FAILED');
    expect(error.message).toContain(join(fixturesDir, 'throws/phys.config.ts'));
    expect(error.message).toContain('sample rate must be a number');
    expect(error.cause).toBeInstanceOf(RangeError);
  });

  it('reports every problem of an invalid config, each with its path, in one error', async () => {
    const error = await failure(loadConfig({ cwd: join(fixturesDir, 'invalid') }));
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(error.issues.map((i) => i.path).sort()).toEqual(
      [
        'logLevel',
        'pipelines.graph.kind',
        'pipelines.main.initalState',
        'pipelines.main.stages[0]',
        'plugins[1]',
        'plugins[2]',
        'pluginz',
        'stages[0]',
      ].sort(),
    );
    expect(error.issues.find((i) => i.path === 'pluginz')?.message).toContain(
      "did you mean 'plugins'",
    );
    expect(error.message).toContain('plugins[1]');
    expect(error.message).toContain(join(fixturesDir, 'invalid/phys.config.ts'));
  });

  it('a file without a default export is an invalid config, not a reason to search further', async () => {
    const error = await failure(loadConfig({ cwd: join(fixturesDir, 'empty') }));
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(error.message).toContain('no default export');
  });

  it("a plugin factory's option errors inside the config surface as one error with option paths", async () => {
    const error = await failure(loadConfig({ cwd: join(fixturesDir, 'factory-options') }));
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      'plugins.probe.greting',
      'plugins.probe.retries.max',
    ]);
    expect(error.message).toContain(join(fixturesDir, 'factory-options/phys.config.ts'));
    expect(error.message).toContain("plugin 'probe'");
  });

  it("a plugin factory's option error is reported once, not again as the cause of the error that names the file", async () => {
    const error = await failure(loadConfig({ cwd: join(fixturesDir, 'factory-options') }));
    const printed: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) printed.push(e.message);
    expect(printed.join('\n').split('plugins.probe.greting')).toHaveLength(2);
    // The frames still lead to the factory call in the config file.
    expect(error.stack).toContain('factory-options/phys.config.ts');
  });
});

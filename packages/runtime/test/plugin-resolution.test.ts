import { join } from 'node:path';
import {
  ConfigError,
  PhysError,
  type PluginEntry,
  PluginError,
  SchedulerToken,
  silentLogger,
} from '@phys/core';
import { createRuntime, loadConfig, type PhysRuntime } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPluginProject, fixturesDir, type PluginProject } from './helpers/plugin-project.js';

let project: PluginProject;
const runtimes: PhysRuntime[] = [];

beforeAll(async () => {
  project = await createPluginProject();
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.dispose()));
  await project.remove();
});

async function runtimeWith(plugins: readonly PluginEntry[], configDir = project.dir) {
  const runtime = await createRuntime({ config: { plugins }, configDir }, { logger: silentLogger });
  runtimes.push(runtime);
  return runtime;
}

async function failure(promise: Promise<unknown>): Promise<PhysError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PhysError.is(error)).toBe(true);
  return error as PhysError;
}

/** The messages of an error and of each of its causes: what `phys` prints for it. */
function printed(error: unknown): string {
  const messages: string[] = [];
  for (let e = error; e instanceof Error; e = e.cause) messages.push(e.message);
  return messages.join('\n');
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe('plugin resolution from the config directory', () => {
  it('tries @phys/<name>, then phys-plugin-<name>, then <name> as written', async () => {
    const runtime = await runtimeWith(['order', 'x', 'bare-name']);
    expect(runtime.plugins.map((p) => [p.name, p.version])).toEqual([
      ['order', '@phys/order'],
      ['x', 'phys-plugin-x'],
      ['bare-name', 'bare-name'],
    ]);
  });

  it('resolves with ESM conditions: a package that only exports "import" is found', async () => {
    const runtime = await runtimeWith(['esm-only']);
    expect(runtime.plugins[0]?.version).toBe('phys-plugin-esm-only');
  });

  it('resolves names relative to the config file and skips falsy and [name, false] entries', async () => {
    const loaded = await loadConfig({ cwd: join(project.dir, 'app') });
    const runtime = await createRuntime(loaded, { logger: silentLogger });
    runtimes.push(runtime);
    expect(runtime.plugins.map((p) => p.name)).toEqual(['x', 'order', 'esm-only']);
  });

  it('passes the options of [name, options] to the factory', async () => {
    const runtime = await runtimeWith([['x', { depth: 3, tags: ['a'] }], ['order']]);
    expect(runtime.plugins[0]?.options).toEqual({ depth: 3, tags: ['a'] });
    expect(runtime.plugins[1]?.options).toBeUndefined();
  });

  it('loads a relative-path TypeScript plugin beside the config', async () => {
    const runtime = await runtimeWith(
      [['./plugins/probe-plugin.ts', { greeting: 'hi' }]],
      fixturesDir,
    );
    expect(runtime.plugins.map((p) => p.name)).toEqual(['probe']);
    expect(runtime.plugins[0]?.options).toEqual({ greeting: 'hi' });
  });
});

describe('plugin errors', () => {
  it('PHYS_PLUGIN_NOT_FOUND lists every specifier it tried', async () => {
    const error = await failure(runtimeWith(['missing']));
    expect(error).toBeInstanceOf(PluginError);
    expect(error.code).toBe('PHYS_PLUGIN_NOT_FOUND');
    expect(error.details?.tried).toEqual(['@phys/missing', 'phys-plugin-missing', 'missing']);
    for (const tried of ['@phys/missing', 'phys-plugin-missing', 'missing']) {
      expect(error.message).toContain(tried);
    }
    expect(error.message).toContain(project.dir);
  });

  it('PHYS_PLUGIN_NOT_FOUND for a misspelled phys plugin suggests it and how to install it', async () => {
    const error = await failure(runtimeWith(['exector-dag']));
    expect(error.code).toBe('PHYS_PLUGIN_NOT_FOUND');
    expect(error.message).toContain("Did you mean 'executor-dag'");
    expect(error.message).toContain('`pnpm add @phys/executor-dag`');
    expect(error.message).not.toContain('pnpm add phys-plugin-exector-dag');
    expect(error.details?.suggestion).toBe('executor-dag');
  });

  it('PHYS_PLUGIN_NOT_FOUND for a misspelled metrics-prometheus suggests it', async () => {
    const error = await failure(runtimeWith(['metrics-prometeus']));
    expect(error.code).toBe('PHYS_PLUGIN_NOT_FOUND');
    expect(error.message).toContain("Did you mean 'metrics-prometheus'");
    expect(error.details?.suggestion).toBe('metrics-prometheus');
  });

  it('PHYS_PLUGIN_NOT_FOUND for a misspelled installed plugin suggests the installed one', async () => {
    const error = await failure(runtimeWith([['optons', { endpoint: 'http://127.0.0.1' }]]));
    expect(error.message).toContain("Did you mean 'options'?");
    expect(error.message).not.toContain('pnpm add');
    expect(error.details?.suggestion).toBe('options');
  });

  it('PHYS_PLUGIN_NOT_FOUND with no close name lists the installed plugins and invents no package', async () => {
    const error = await failure(runtimeWith(['quantum']));
    expect(error.message).not.toContain('pnpm add');
    expect(error.message).not.toContain('Did you mean');
    expect(error.message).toMatch(/Installed plugins: .*\boptions\b/);
    expect(error.details?.suggestion).toBeUndefined();
  });

  it('PHYS_PLUGIN_NOT_FOUND for a scoped name tries the scope’s phys-plugin- package first', async () => {
    const error = await failure(runtimeWith(['@acme/gpu']));
    expect(error.details?.tried).toEqual(['@acme/phys-plugin-gpu', '@acme/gpu']);
  });

  it('PHYS_PLUGIN_NOT_FOUND for a relative path names the resolved path', async () => {
    const error = await failure(runtimeWith(['./plugins/nope.mjs']));
    expect(error.code).toBe('PHYS_PLUGIN_NOT_FOUND');
    expect(error.details?.tried).toEqual([join(project.dir, 'plugins/nope.mjs')]);
  });

  it('PHYS_PLUGIN_INVALID when the default export is not a factory, naming the resolved file', async () => {
    const notFactory = await failure(runtimeWith(['not-factory']));
    expect(notFactory.code).toBe('PHYS_PLUGIN_INVALID');
    expect(notFactory.message).toContain(
      join(project.dir, 'node_modules/phys-plugin-not-factory/index.js'),
    );
    expect(notFactory.message).toContain('a plugin object');
    const noDefault = await failure(runtimeWith(['no-default']));
    expect(noDefault.code).toBe('PHYS_PLUGIN_INVALID');
    expect(noDefault.message).toContain('noDefault');
  });

  it('PHYS_PLUGIN_INVALID when the factory returns something that is not a plugin', async () => {
    const error = await failure(runtimeWith(['bad-return']));
    expect(error.code).toBe('PHYS_PLUGIN_INVALID');
    expect(error.message).toContain('definePlugin');
    expect(error.message).toContain('phys-plugin-bad-return');
  });

  it('PHYS_PLUGIN_INVALID when the module fails to load, with the cause', async () => {
    const error = await failure(runtimeWith(['broken']));
    expect(error.code).toBe('PHYS_PLUGIN_INVALID');
    expect(error.message).toContain('phys-plugin-broken');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('PHYS_PLUGIN_FAILED when the factory throws for another reason than its options', async () => {
    const error = await failure(runtimeWith(['throws']));
    expect(error.code).toBe('PHYS_PLUGIN_FAILED');
    expect((error as PluginError).pluginName).toBe('throws');
    expect((error.cause as Error).message).toBe('license server unreachable');
  });

  it('PHYS_PLUGIN_INCOMPATIBLE names the supported API version', async () => {
    const error = await failure(runtimeWith(['future']));
    expect(error.code).toBe('PHYS_PLUGIN_INCOMPATIBLE');
    expect(error.message).toContain('version 2');
    expect(error.message).toContain('supports version 1');
  });

  it('PHYS_PLUGIN_CONFLICT for the same plugin twice, naming both entries', async () => {
    const error = await failure(runtimeWith(['x', 'order', ['x', { again: true }]]));
    expect(error.code).toBe('PHYS_PLUGIN_CONFLICT');
    expect(error.message).toContain('plugins[0]');
    expect(error.message).toContain('plugins[2]');
  });

  it('PHYS_PLUGIN_CONFLICT for two providers of a single-valued capability, naming both', async () => {
    const error = await failure(runtimeWith(['scheduler-a', 'scheduler-b']));
    expect(error.code).toBe('PHYS_PLUGIN_CONFLICT');
    expect(error.message).toContain("'scheduler-a'");
    expect(error.message).toContain("'scheduler-b'");
    expect(error.message).toContain("'scheduler'");
  });

  it('one provider of a single-valued capability is fine and resolvable', async () => {
    const runtime = await runtimeWith(['scheduler-b']);
    expect(runtime.resolve(SchedulerToken)).toEqual({ name: 'scheduler-b' });
  });

  it('a misspelled option fails with one error naming every bad option path (zod in the factory)', async () => {
    const error = await failure(
      runtimeWith([['options', { endpont: 'http://127.0.0.1', batch: { size: 0 } }]]),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      'plugins.options.batch.size',
      'plugins.options.endpoint',
      'plugins.options.endpont',
    ]);
  });

  it('a misspelled option fails with one error naming its path (parsePluginOptions in the factory)', async () => {
    const error = await failure(
      runtimeWith(
        [['./plugins/probe-plugin.ts', { greeting: 'hi', retires: { max: 1 } }]],
        fixturesDir,
      ),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect((error as ConfigError).issues).toEqual([
      { path: 'plugins.probe.retires', message: expect.stringContaining('unknown key') },
    ]);
    expect(error.message).toContain("plugin 'probe'");
  });

  it('an invalid option is reported once, not again as the cause of the error that reports it', async () => {
    const error = await failure(
      runtimeWith(
        [['./plugins/probe-plugin.ts', { greeting: 'hi', retires: { max: 1 } }]],
        fixturesDir,
      ),
    );
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(occurrences(printed(error), 'plugins.probe.retires')).toBe(1);
  });
});

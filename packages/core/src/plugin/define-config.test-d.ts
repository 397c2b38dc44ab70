import {
  type CheckPluginEntry,
  type ConfigEnv,
  defineConfig,
  definePlugin,
  defineStage,
  type PhysConfig,
} from '@phys/core';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';

interface FakeSlurmOptions {
  readonly partition: string;
  readonly account?: string;
  readonly limits?: { readonly jobs: number };
}

// What a plugin package does once, in its own source: makes `['name', options]` typed.
declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'test-d-fake-slurm': FakeSlurmOptions;
  }
}

const plugin = definePlugin({ name: 'inline', register() {} });

describe('defineConfig: [name, options] of a plugin that declared its options', () => {
  it('accepts correct options, required and optional', () => {
    defineConfig({ plugins: [['test-d-fake-slurm', { partition: 'gpu' }]] });
    defineConfig({
      plugins: [['test-d-fake-slurm', { partition: 'gpu', account: 'phys', limits: { jobs: 4 } }]],
    });
  });

  it('rejects a misspelled required option', () => {
    // @ts-expect-error 'partiton' is not 'partition'
    defineConfig({ plugins: [['test-d-fake-slurm', { partiton: 'gpu' }]] });
  });

  it('rejects a misspelled optional option', () => {
    // @ts-expect-error 'acount' is not an option of test-d-fake-slurm
    defineConfig({ plugins: [['test-d-fake-slurm', { partition: 'gpu', acount: 'phys' }]] });
  });

  it('rejects an option of the wrong type', () => {
    // @ts-expect-error partition is a string
    defineConfig({ plugins: [['test-d-fake-slurm', { partition: 7 }]] });
  });

  it('checks each entry on its own, wherever it sits in the list', () => {
    defineConfig({
      // @ts-expect-error the second entry's 'acount' is not an option of test-d-fake-slurm
      plugins: ['cache-disk', ['test-d-fake-slurm', { partition: 'gpu', acount: 'x' }]],
    });
  });
});

describe('defineConfig: entries that are not checked against the map', () => {
  it('accepts unknown plugin names with any options, package names, plugin objects and falsy entries', () => {
    const config = defineConfig({
      plugins: [
        'cache-disk',
        ['scheduler-unknown', { anything: [1, 2, 3] }],
        ['./plugins/local.ts'],
        plugin,
        ['test-d-fake-slurm', false],
        false,
        null,
        undefined,
      ],
    });
    expectTypeOf(config).toExtend<PhysConfig>();
  });

  it('returns a PhysConfig', () => {
    const config = defineConfig({ cacheDir: '.cache', logLevel: 'warn' });
    expectTypeOf(config).toEqualTypeOf<PhysConfig>();
  });

  it('accepts stage definitions and declared pipelines', () => {
    const Scale = defineStage({
      name: 'test-d/scale',
      config: z.object({ factor: z.number() }),
      process: (state: number, ctx) => ({ state: state * ctx.config.factor }),
    });
    defineConfig({
      stages: [Scale],
      pipelines: { main: { stages: [Scale({ factor: 2 })], initialState: () => 1 } },
    });
  });

  it('accepts the function form, sync or async, and types its argument', () => {
    const config = defineConfig(({ mode }) => ({ logLevel: mode === 'ci' ? 'warn' : 'info' }));
    expectTypeOf(config).toBeFunction();
    expectTypeOf(config).parameter(0).toEqualTypeOf<ConfigEnv>();
    defineConfig(async ({ command }) => ({ policy: { command } }));
  });

  it('rejects a function form that returns something other than a config', () => {
    // @ts-expect-error cacheDir is a string
    defineConfig(async () => ({ cacheDir: 3 }));
  });
});

describe('defineConfig: keys the config does not have', () => {
  it('rejects an unknown top-level key, such as pipeline for pipelines', () => {
    defineConfig({
      cacheDir: '.cache',
      // @ts-expect-error 'pipeline' is not a key of the config ('pipelines' is)
      pipeline: { main: { stages: [] } },
    });
  });

  it('rejects an unknown top-level key next to plugins', () => {
    defineConfig({
      plugins: ['executor-dag', ['test-d-fake-slurm', { partition: 'gpu' }]],
      // @ts-expect-error 'plugin' is not a key of the config ('plugins' is)
      plugin: 'cache-disk',
    });
  });

  it('rejects an unknown key of a pipeline declaration', () => {
    defineConfig({
      pipelines: {
        // @ts-expect-error 'descripton' is not a key of a pipeline declaration
        main: { stages: [], descripton: 'typo' },
      },
    });
  });
});

describe('CheckPluginEntry', () => {
  it('is one plain type per entry: the declared options of a known name, else the entry', () => {
    expectTypeOf<
      CheckPluginEntry<readonly ['test-d-fake-slurm', { region: 'eu' }]>
    >().toEqualTypeOf<readonly ['test-d-fake-slurm', FakeSlurmOptions | false]>();
    expectTypeOf<
      CheckPluginEntry<readonly ['scheduler-unknown', { region: 'eu' }]>
    >().toEqualTypeOf<readonly ['scheduler-unknown', { region: 'eu' }]>();
    expectTypeOf<CheckPluginEntry<'cache-disk'>>().toEqualTypeOf<'cache-disk'>();
  });
});

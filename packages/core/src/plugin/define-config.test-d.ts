import {
  type CheckPluginEntry,
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
    // @ts-expect-error the second entry's 'acount' is not an option of test-d-fake-slurm
    defineConfig({
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

  it('keeps the literal type of the config', () => {
    const config = defineConfig({ cacheDir: '.cache', logLevel: 'warn' });
    expectTypeOf(config.cacheDir).toEqualTypeOf<'.cache'>();
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

  it('accepts the function form', () => {
    const config = defineConfig(({ mode }) => ({ logLevel: mode === 'ci' ? 'warn' : 'info' }));
    expectTypeOf(config).toBeFunction();
  });
});

describe('CheckPluginEntry', () => {
  it('maps a bad entry to the declared options and leaves good ones alone', () => {
    expectTypeOf<
      CheckPluginEntry<readonly ['test-d-fake-slurm', { partition: 'a' }]>
    >().toEqualTypeOf<readonly ['test-d-fake-slurm', { partition: 'a' }]>();
    expectTypeOf<
      CheckPluginEntry<readonly ['test-d-fake-slurm', { region: 'eu' }]>
    >().toEqualTypeOf<readonly ['test-d-fake-slurm', FakeSlurmOptions]>();
    expectTypeOf<CheckPluginEntry<readonly ['test-d-fake-slurm', false]>>().toEqualTypeOf<
      readonly ['test-d-fake-slurm', false]
    >();
    expectTypeOf<CheckPluginEntry<'cache-disk'>>().toEqualTypeOf<'cache-disk'>();
  });
});

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ConfigError,
  createToken,
  definePlugin,
  defineStage,
  HooksToken,
  LoggerToken,
  PhysError,
  type PhysPlugin,
  type PluginContext,
  PluginError,
  StageRegistryToken,
  silentLogger,
} from '@phys/core';
import { createRuntime, Lifecycle, loadConfig } from '@phys/runtime';
import { collectHooks, createTestRuntime } from '@phys/testing';
import { container as globalContainer } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

// The runtime's own fixture configs (one copy in the repo).
const fixturesDir = fileURLToPath(new URL('../../runtime/test/fixtures', import.meta.url));

async function failure(promise: Promise<unknown>): Promise<PhysError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(PhysError.is(error)).toBe(true);
  return error as PhysError;
}

/** A plugin that writes every lifecycle step it sees into `log`. */
function recorder(name: string, log: string[], extra: Partial<PhysPlugin> = {}): PhysPlugin {
  return definePlugin({
    name,
    register: () => void log.push(`register ${name}`),
    init: async () => void log.push(`init ${name}`),
    dispose: async () => void log.push(`dispose ${name}`),
    ...extra,
  });
}

const Double = defineStage({
  name: 'test/double',
  config: z.object({}),
  process: (state: number) => ({ state: state * 2 }),
});

const ReadPolicy = defineStage({
  name: 'test/read-policy',
  config: z.object({}),
  process: (_state: unknown, ctx) => ({ state: ctx.policy.toJSON() }),
});

describe('plugin lifecycle', () => {
  it('registers all in config order, then inits in order, then disposes in reverse, container last', async () => {
    const log: string[] = [];
    class Resource {
      dispose() {
        log.push('container');
      }
    }
    const ResourceToken = createToken<Resource>('test:Resource');
    const plugins = ['a', 'b', 'c'].map((n) => recorder(n, log));
    const withResource = recorder('d', log, {
      register: ({ container }: PluginContext) => {
        log.push('register d');
        container.register(
          ResourceToken,
          { useClass: Resource },
          { lifecycle: Lifecycle.ContainerScoped },
        );
      },
    });
    const runtime = await createTestRuntime({ plugins: [...plugins, withResource] });
    runtime.resolve(ResourceToken);
    expect(log).toEqual([
      'register a',
      'register b',
      'register c',
      'register d',
      'init a',
      'init b',
      'init c',
      'init d',
    ]);
    log.length = 0;
    await runtime.dispose();
    await runtime.dispose();
    expect(log).toEqual(['dispose d', 'dispose c', 'dispose b', 'dispose a', 'container']);
  });

  it('gives each hook the run container, options, config dir, stage registry and a logger', async () => {
    let seen: PluginContext | undefined;
    const plugin = definePlugin({
      name: 'ctx',
      options: { level: 3 },
      register: (ctx) => {
        seen = ctx;
      },
    });
    const runtime = await createTestRuntime({ plugins: [plugin], configDir: fixturesDir });
    expect(seen?.container).toBe(runtime.container);
    expect(seen?.options).toEqual({ level: 3 });
    expect(seen?.configDir).toBe(fixturesDir);
    expect(seen?.stages).toBe(runtime.stages);
    expect(runtime.resolve(StageRegistryToken)).toBe(runtime.stages);
    expect(runtime.resolve(LoggerToken)).toBe(silentLogger);
    await runtime.dispose();
  });

  it('wraps an init failure as PHYS_PLUGIN_FAILED and disposes the plugins already started', async () => {
    const log: string[] = [];
    const failing = recorder('b', log, {
      init: async () => {
        throw new Error('port 9464 in use');
      },
    });
    const error = await failure(
      createTestRuntime({ plugins: [recorder('a', log), failing, recorder('c', log)] }),
    );
    expect(error).toBeInstanceOf(PluginError);
    expect(error.code).toBe('PHYS_PLUGIN_FAILED');
    expect(error.message).toContain('[b] init() failed: port 9464 in use');
    expect((error.cause as Error).message).toBe('port 9464 in use');
    expect(log).toEqual(['register a', 'register b', 'register c', 'init a', 'dispose a']);
  });

  it('wraps a register failure as PHYS_PLUGIN_FAILED naming the plugin', async () => {
    const bad = definePlugin({
      name: 'bad',
      register: () => {
        throw new Error('no such token');
      },
    });
    const error = await failure(createTestRuntime({ plugins: [bad] }));
    expect(error.code).toBe('PHYS_PLUGIN_FAILED');
    expect((error as PluginError).pluginName).toBe('bad');
  });

  it('rejects an async register, which would race the init phase', async () => {
    const asyncRegister = definePlugin({
      name: 'async-register',
      register: (async () => {}) as unknown as () => void,
    });
    const error = await failure(createTestRuntime({ plugins: [asyncRegister] }));
    expect(error.code).toBe('PHYS_PLUGIN_INVALID');
    expect(error.message).toContain('init()');
  });

  it('disposes every plugin even when one dispose fails, then reports that failure', async () => {
    const log: string[] = [];
    const failing = recorder('b', log, {
      dispose: async () => {
        throw new Error('flush failed');
      },
    });
    const runtime = await createTestRuntime({
      plugins: [recorder('a', log), failing, recorder('c', log)],
    });
    log.length = 0;
    const error = await failure(runtime.dispose());
    expect(error.code).toBe('PHYS_PLUGIN_FAILED');
    expect(error.message).toContain('[b] dispose() failed: flush failed');
    expect(log).toEqual(['dispose c', 'dispose a']);
  });

  it('init: false registers providers but starts (and so disposes) nothing', async () => {
    const log: string[] = [];
    const runtime = await createTestRuntime({ plugins: [recorder('a', log)], init: false });
    expect(log).toEqual(['register a']);
    await runtime.dispose();
    expect(log).toEqual(['register a']);
  });
});

describe('containers', () => {
  class Counter {
    count = 0;
  }
  const CounterToken = createToken<Counter>('test:Counter');
  const counterPlugin = () =>
    definePlugin({
      name: 'counter',
      register: ({ container }) => {
        container.register(
          CounterToken,
          { useClass: Counter },
          { lifecycle: Lifecycle.ContainerScoped },
        );
      },
    });

  it('gives every runtime its own child container; nothing lands on the global one', async () => {
    const first = await createTestRuntime({ plugins: [counterPlugin()] });
    const second = await createTestRuntime({ plugins: [counterPlugin()] });
    expect(first.container).not.toBe(second.container);
    first.resolve(CounterToken).count++;
    expect(first.resolve(CounterToken)).toBe(first.resolve(CounterToken));
    expect(first.resolve(CounterToken).count).toBe(1);
    expect(second.resolve(CounterToken).count).toBe(0);
    expect(globalContainer.isRegistered(CounterToken)).toBe(false);
    expect(globalContainer.isRegistered(StageRegistryToken)).toBe(false);
    await Promise.all([first.dispose(), second.dispose()]);
  });

  it('resolve names the missing token; resolveAll of nothing is an empty list', async () => {
    const runtime = await createTestRuntime();
    const error = (() => {
      try {
        runtime.resolve(CounterToken);
      } catch (e) {
        return e as PhysError;
      }
    })();
    expect(error?.code).toBe('PHYS_DI_UNRESOLVED');
    expect(error?.message).toContain('test:Counter');
    expect(runtime.resolveAll(HooksToken)).toEqual([]);
    await runtime.dispose();
  });
});

describe('stages', () => {
  it('holds config stages, plugin stages and the stages of declared pipelines', async () => {
    const FromPlugin = defineStage({
      name: 'test/from-plugin',
      config: z.object({}),
      process: (state: unknown) => ({ state }),
    });
    const OnlyInPipeline = defineStage({
      name: 'test/only-in-pipeline',
      config: z.object({ n: z.number() }),
      process: (state: unknown) => ({ state }),
    });
    const runtime = await createTestRuntime({
      stages: [Double],
      plugins: [
        definePlugin({ name: 'stages', register: ({ stages }) => stages.register(FromPlugin) }),
      ],
      pipelines: { main: { stages: [OnlyInPipeline({ n: 1 }), Double()] } },
    });
    expect(runtime.stages.list().map((d) => d.stageName)).toEqual([
      'test/double',
      'test/from-plugin',
      'test/only-in-pipeline',
    ]);
    const rebuilt = runtime.stages.rebuild({
      name: 'test/only-in-pipeline',
      version: '1',
      config: { n: 5 },
    });
    expect(rebuilt.config).toEqual({ n: 5 });
    await runtime.dispose();
  });

  it('PHYS_STAGE_UNKNOWN names the stages it knows', async () => {
    const runtime = await createTestRuntime({ stages: [Double] });
    const error = (() => {
      try {
        runtime.stages.rebuild({ name: 'test/triple', version: '1', config: {} });
      } catch (e) {
        return e as PhysError;
      }
    })();
    expect(error?.code).toBe('PHYS_STAGE_UNKNOWN');
    expect(error?.message).toContain('test/double@1');
    await runtime.dispose();
  });
});

describe('runPipeline', () => {
  it('runs a declared pipeline of the loaded config with hooks plugins registered', async () => {
    const hooks = collectHooks();
    const loaded = await loadConfig({ cwd: join(fixturesDir, 'project') });
    const runtime = await createRuntime(
      {
        ...loaded,
        config: {
          ...loaded.config,
          plugins: [
            definePlugin({
              name: 'hooks',
              provides: ['hooks'],
              register: ({ container }) => container.register(HooksToken, { useValue: hooks }),
            }),
          ],
        },
      },
      { logger: silentLogger },
    );
    const result = await runtime.runPipeline<{ intensity: Float64Array; label: string }>('main');
    expect([...result.state.intensity]).toEqual([4, 7, 10]);
    expect(result.state.label).toBe('beam+one');
    expect(result.metrics).toEqual({ 'main.beam/scale.peak': 9 });
    expect(hooks.types()).toEqual([
      'onPipelineStart',
      'onStepStart',
      'onStepEnd',
      'onStepStart',
      'onStepEnd',
      'onPipelineEnd',
    ]);
    expect(hooks.of('onStepEnd').map((e) => e.step)).toEqual(['beam/scale', 'beam/shift']);
    await runtime.dispose();
  });

  it('takes the initial state from the run, else the declaration (a function is called)', async () => {
    const runtime = await createTestRuntime({
      pipelines: {
        twice: {
          stages: [Double({}, { label: 'first' }), Double({}, { label: 'second' })],
          initialState: async () => 3,
        },
      },
    });
    expect((await runtime.runPipeline('twice')).state).toBe(12);
    expect((await runtime.runPipeline('twice', { initialState: 5 })).state).toBe(20);
    await runtime.dispose();
  });

  it('lays the run policy over the pipeline policy over the config policy', async () => {
    const runtime = await createTestRuntime({
      config: { policy: { a: 'config', b: 'config', c: 'config' } },
      pipelines: { p: { stages: [ReadPolicy()], policy: { b: 'pipeline', c: 'pipeline' } } },
    });
    const result = await runtime.runPipeline('p', { policy: { c: 'run' } });
    expect(result.state).toEqual({ a: 'config', b: 'pipeline', c: 'run' });
    await runtime.dispose();
  });

  it('PHYS_USAGE for an unknown pipeline (listing the declared ones) and for a DAG', async () => {
    const runtime = await createTestRuntime({
      pipelines: {
        seq: { stages: [Double()] },
        graph: { kind: 'dag', nodes: [{ id: 'a', stage: Double() }] },
      },
    });
    const unknown = await failure(runtime.runPipeline('sequential'));
    expect(unknown.code).toBe('PHYS_USAGE');
    expect(unknown.message).toContain('graph, seq');
    const dag = await failure(runtime.runPipeline('graph'));
    expect(dag.code).toBe('PHYS_USAGE');
    expect(dag.message).toContain('DAG');
    await runtime.dispose();
  });
});

describe('createTestRuntime', () => {
  it('validates the in-memory config like a file', async () => {
    const error = await failure(
      createTestRuntime({ config: { plugins: [42 as never], cacheDri: 'x' } as never }),
    );
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(error.message).toContain('plugins[0]');
    expect(error.message).toContain("did you mean 'cacheDir'");
  });

  it('reports pipeline problems with their paths: colliding labels, misspelled node keys', async () => {
    const error = await failure(
      createTestRuntime({
        pipelines: {
          seq: { stages: [Double(), Double()] },
          graph: { kind: 'dag', nodes: [{ id: 'a', stage: Double(), dep: ['b'] } as never] },
        },
      }),
    );
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      'pipelines.seq.stages[1]',
      'pipelines.graph.nodes[0].dep',
    ]);
  });

  it('checks node retry policies with the one validator of core, unknown keys included', async () => {
    const error = await failure(
      createTestRuntime({
        pipelines: {
          graph: {
            kind: 'dag',
            nodes: [
              { id: 'a', stage: Double(), retry: { maxAttempts: 0, retryOn: ['X'] } as never },
            ],
          },
        },
      }),
    );
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      'pipelines.graph.nodes[0].retry.retryOn',
      'pipelines.graph.nodes[0].retry.maxAttempts',
    ]);
  });

  it('resolves the cache directory from the config directory', async () => {
    const runtime = await createTestRuntime({
      config: { cacheDir: 'cache' },
      configDir: fixturesDir,
    });
    expect(runtime.cacheDir).toBe(join(fixturesDir, 'cache'));
    await runtime.dispose();
  });
});

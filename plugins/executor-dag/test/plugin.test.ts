import { dirname } from 'node:path';
import {
  ConfigError,
  definePlugin,
  ExecutorToken,
  type NodeSpec,
  PhysError,
  type PhysPlugin,
  type Scheduler,
  SchedulerToken,
} from '@phys/core';
import { createRuntime, type PhysRuntime } from '@phys/runtime';
import { describe, expect, it } from 'vitest';
import executorDag from '../src/index.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Merge } from './fixtures/stages.js';
import { configFile } from './helpers.js';

const nodes: NodeSpec[] = [
  { id: 'a', stage: Add({ amount: 1 }) },
  { id: 'b', stage: Add({ amount: 2 }), deps: ['a'] },
  { id: 'c', stage: Add({ amount: 3 }), deps: ['a'], isolation: 'thread' },
  { id: 'd', stage: Merge({}), deps: ['b', 'c'] },
];

/**
 * A scheduler plugin as a third party writes one: it claims 'scheduler' and registers its own
 * scheduler, which hands tasks to a LocalScheduler and records which nodes it was given.
 */
function recordingSchedulerPlugin(): {
  plugin: PhysPlugin;
  submitted: string[];
  created: () => Scheduler | undefined;
} {
  const submitted: string[] = [];
  let scheduler: Scheduler | undefined;
  const plugin = definePlugin({
    name: 'recording-scheduler',
    provides: ['scheduler'],
    register(ctx) {
      ctx.container.register(SchedulerToken, {
        useFactory: () => {
          if (scheduler !== undefined) return scheduler;
          const inner = new LocalScheduler({ maxWorkers: 2, configFile });
          scheduler = {
            name: 'recording',
            capabilities: inner.capabilities,
            submit: (task) => {
              submitted.push(task.nodeId);
              return inner.submit(task);
            },
            poll: (handle) => inner.poll(handle),
            wait: (handle) => inner.wait(handle),
            cancel: (handle) => inner.cancel(handle),
            close: () => inner.close(),
          };
          return scheduler;
        },
      });
    },
    async dispose() {
      await scheduler?.close?.();
    },
  });
  return { plugin, submitted, created: () => scheduler };
}

function runtimeOf(plugins: PhysPlugin[]): Promise<PhysRuntime> {
  return createRuntime(
    {
      config: {
        plugins,
        pipelines: { diamond: { kind: 'dag', nodes, initialState: () => ({ payload: 0 }) } },
      },
      configDir: dirname(configFile),
      filepath: configFile,
    },
    { init: true },
  );
}

function runDiamond(runtime: PhysRuntime) {
  const declaration = runtime.pipeline('diamond');
  return runtime.resolve(ExecutorToken).execute({
    pipeline: 'diamond',
    nodes: declaration.kind === 'dag' ? declaration.nodes : [],
    initialState: declaration.initialState,
    container: runtime.container,
  });
}

describe('executor-dag plugin', () => {
  it('rejects unknown and invalid options with every path', () => {
    let error: unknown;
    try {
      executorDag({ maxWorkers: 0, bogus: true } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.path);
    expect(issues).toEqual(
      expect.arrayContaining(['plugins.executor-dag.maxWorkers', 'plugins.executor-dag.bogus']),
    );
    expect((error as ConfigError).code).toBe('PHYS_CONFIG_INVALID');
  });

  it('alone, provides the executor and a fallback LocalScheduler, and runs a declared DAG through ExecuteRequest', async () => {
    const runtime = await createRuntime(
      {
        config: {
          plugins: [executorDag({ maxWorkers: 2 })],
          pipelines: { diamond: { kind: 'dag', nodes, initialState: () => ({ payload: 0 }) } },
        },
        configDir: dirname(configFile),
        filepath: configFile,
      },
      { init: true },
    );
    try {
      expect(runtime.plugins[0]?.provides).toEqual(['executor']);
      const scheduler = runtime.resolve(SchedulerToken);
      expect(scheduler).toBeInstanceOf(LocalScheduler);
      expect((scheduler as LocalScheduler).configFile).toBe(configFile);
      const progress: string[] = [];
      const declaration = runtime.pipeline('diamond');
      const result = await runtime.resolve(ExecutorToken).execute({
        pipeline: 'diamond',
        nodes: declaration.kind === 'dag' ? declaration.nodes : [],
        initialState: declaration.initialState,
        container: runtime.container,
        onProgress: (e) => progress.push(`${e.node}:${e.status}`),
      });
      expect(result.status).toBe('COMPLETED');
      expect(result.outputs).toEqual({ d: { payload: 7 } });
      expect(result.nodes.c).toMatchObject({ status: 'COMPLETED', attempts: 1 });
      expect(result.metrics).toEqual({ 'd.inputs': 2 });
      expect(progress).toContain('d:COMPLETED');
    } finally {
      await runtime.dispose();
    }
  });

  it.each(['before', 'after'])(
    'leaves SchedulerToken to a scheduler plugin listed %s it, with no options',
    async (place) => {
      const recording = recordingSchedulerPlugin();
      const runtime = await runtimeOf(
        place === 'before'
          ? [recording.plugin, executorDag({ maxWorkers: 2 })]
          : [executorDag({ maxWorkers: 2 }), recording.plugin],
      );
      try {
        const scheduler = runtime.resolve(SchedulerToken);
        expect(scheduler.name).toBe('recording');
        expect(scheduler).toBe(recording.created());
        expect(runtime.container.resolveAll(SchedulerToken)).toHaveLength(1);
        const result = await runDiamond(runtime);
        expect(result.status).toBe('COMPLETED');
        expect(result.outputs).toEqual({ d: { payload: 7 } });
        expect([...recording.submitted].sort()).toEqual(['a', 'b', 'c', 'd']);
      } finally {
        await runtime.dispose();
      }
    },
  );

  it('with provideScheduler: true, claims the scheduler capability: a scheduler plugin beside it is a conflict', async () => {
    const recording = recordingSchedulerPlugin();
    const plugin = executorDag({ provideScheduler: true });
    expect(plugin.provides).toEqual(['executor', 'scheduler']);
    let error: unknown;
    try {
      await runtimeOf([plugin, recording.plugin]);
    } catch (e) {
      error = e;
    }
    expect(PhysError.is(error)).toBe(true);
    expect((error as PhysError).code).toBe('PHYS_PLUGIN_CONFLICT');
    expect((error as PhysError).message).toContain("'executor-dag'");
    expect((error as PhysError).message).toContain("'recording-scheduler'");
    expect((error as PhysError).details).toMatchObject({
      capability: 'scheduler',
      plugins: ['executor-dag', 'recording-scheduler'],
    });
    expect(recording.created()).toBeUndefined();
  });

  it('with provideScheduler: false, registers no scheduler and still runs a DAG locally', async () => {
    const plugin = executorDag({ provideScheduler: false, maxWorkers: 2 });
    expect(plugin.provides).toEqual(['executor']);
    expect(plugin.options?.failureMode).toBe('failFast');
    const runtime = await runtimeOf([plugin]);
    try {
      expect(runtime.isRegistered(SchedulerToken)).toBe(false);
      const result = await runDiamond(runtime);
      expect(result.status).toBe('COMPLETED');
      expect(result.outputs).toEqual({ d: { payload: 7 } });
      expect(result.nodes.c).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    } finally {
      await runtime.dispose();
    }
  });
});

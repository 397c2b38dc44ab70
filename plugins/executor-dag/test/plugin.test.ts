import { dirname } from 'node:path';
import { ConfigError, ExecutorToken, type NodeSpec, SchedulerToken } from '@phys/core';
import { createRuntime } from '@phys/core/node';
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

  it('provides the executor and a LocalScheduler, and runs a declared DAG through ExecuteRequest', async () => {
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
      expect(runtime.plugins[0]?.provides).toEqual(['executor', 'scheduler']);
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

  it('can leave the scheduler capability to another plugin', () => {
    const plugin = executorDag({ provideScheduler: false });
    expect(plugin.provides).toEqual(['executor']);
    expect(plugin.options?.failureMode).toBe('failFast');
  });
});

// DagExecutor (@phys/executor-dag) with the model packager of @phys/ml-packager: nodes marked
// modelArtifact are packaged from fresh results and from cache hits, a node whose package cannot
// be written fails, and the ml-packager plugin provides its packager to the executor plugin.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineStage, type NodeSpec, PackagerToken } from '@phys/core';
import executorDag, { DagExecutor, dagCacheKeys, LocalScheduler } from '@phys/executor-dag';
import mlPackager, { loadPackage, ModelArtifactPackager } from '@phys/ml-packager';
import { createRuntime } from '@phys/runtime';
import { MemoryCache } from '@phys/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

const made: string[] = [];

/** A fresh temporary directory, removed after the test. */
async function tempDir(prefix = 'phys-pkg-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

const Data = defineStage({
  name: 'test/data',
  version: '1',
  config: z.object({ n: z.number().int() }),
  process: (_s: unknown, { config }) => ({
    state: {
      x: Array.from({ length: config.n }, (_, i) => i),
      y: Array.from({ length: config.n }, (_, i) => 2 * i + 1),
    },
  }),
});

let fits = 0;
const Fit = defineStage({
  name: 'test/fit',
  version: '1',
  config: z.object({ ridge: z.number().min(0).default(0) }),
  process: (state: { x: number[]; y: number[] }) => {
    fits++;
    const n = state.x.length;
    const mx = state.x.reduce((a, b) => a + b, 0) / n;
    const my = state.y.reduce((a, b) => a + b, 0) / n;
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < n; i++) {
      sxy += ((state.x[i] as number) - mx) * ((state.y[i] as number) - my);
      sxx += ((state.x[i] as number) - mx) ** 2;
    }
    const slope = sxy / sxx;
    const coefficients = new Float64Array([my - slope * mx, slope]);
    return {
      state: { coefficients },
      metrics: { slope },
      artifacts: { 'coefficients.bin': new Uint8Array(coefficients.buffer) },
    };
  },
});

const nodes: NodeSpec[] = [
  { id: 'data', stage: Data({ n: 5 }) },
  { id: 'fit', stage: Fit({}), deps: ['data'], modelArtifact: true },
];

describe('DagExecutor with a packager', () => {
  it('packages nodes marked modelArtifact, from fresh results and from cache hits alike', async () => {
    const root = await tempDir();
    const packager = new ModelArtifactPackager({ root });
    const cache = new MemoryCache();
    const executor = new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      cache,
      packager,
      metrics: [],
    });
    fits = 0;
    const cold = await executor.run(null, nodes);
    expect(cold.status).toBe('COMPLETED');
    const packages = cold.provenance.modelPackages ?? [];
    expect(packages).toHaveLength(1);
    expect(packages[0]?.nodeId).toBe('fit');
    const path = packages[0]?.path as string;
    expect(path.startsWith(join(root, 'fit'))).toBe(true);

    const keys = dagCacheKeys(nodes, { initialState: null });
    const loaded = await loadPackage(path, { state: true });
    expect(loaded.manifest).toMatchObject({
      node: { id: 'fit', runId: cold.runId, cached: false },
      stage: { name: 'test/fit', version: '1', label: 'test/fit' },
      config: { ridge: 0 },
      metrics: { slope: 2 },
      provenance: {
        cacheKey: keys.get('fit'),
        lineage: [{ nodeId: 'data', cacheKey: keys.get('data') }],
      },
    });
    expect(loaded.state).toEqual({ coefficients: new Float64Array([1, 2]) });
    expect(Object.keys(loaded.files)).toContain('files/coefficients.bin');

    // Warm run: the node is CACHED and still packaged (the same content, so the same package).
    const warm = await executor.run(null, nodes);
    expect(warm.statusOf('fit')).toBe('CACHED');
    expect(fits).toBe(1);
    expect(warm.provenance.modelPackages).toEqual([{ nodeId: 'fit', path }]);
  });

  it('fails the node when its result cannot be packaged (artifacts or state)', async () => {
    const root = await tempDir();
    const Bad = defineStage({
      name: 'test/bad-artifact',
      version: '1',
      config: z.object({}),
      process: () => ({ state: 1, artifacts: { when: new Map() as never } }),
    });
    const Unpackable = defineStage({
      name: 'test/unpackable-state',
      version: '1',
      config: z.object({}),
      process: () => ({ state: { predict: () => 0 } }),
    });
    const result = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      packager: new ModelArtifactPackager({ root }),
      failureMode: 'continue',
      metrics: [],
    }).run(null, [
      { id: 'bad', stage: Bad({}), modelArtifact: true },
      { id: 'fn', stage: Unpackable({}), modelArtifact: true },
    ]);
    expect(result.status).toBe('FAILED');
    expect(result.statusOf('bad')).toBe('FAILED');
    expect(result.statusOf('fn')).toBe('FAILED');
    expect(result.node('bad')?.error).toMatchObject({ code: 'PHYS_PACKAGE_ARTIFACT_INVALID' });
    expect(result.node('fn')?.error?.code).toBe('PHYS_STATE_UNSUPPORTED');
    expect(result.node('fn')?.error?.message).toMatch(/^Cannot package the model of node 'fn': /);
    expect(result.provenance.modelPackages).toMatchObject([
      { nodeId: 'bad', error: { code: 'PHYS_PACKAGE_ARTIFACT_INVALID' } },
      { nodeId: 'fn', error: { code: 'PHYS_STATE_UNSUPPORTED' } },
    ]);
  });

  it('fails the node and the run when the package cannot be written, naming the errno', async () => {
    const dir = await tempDir();
    // A file where the package root's directory must be: every write under it fails (ENOTDIR).
    await writeFile(join(dir, 'blocked'), 'not a directory');
    const result = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      packager: new ModelArtifactPackager({ root: join(dir, 'blocked', 'models') }),
      metrics: [],
    }).run(null, nodes);
    expect(result.status).toBe('FAILED');
    expect(result.statusOf('data')).toBe('COMPLETED');
    expect(result.statusOf('fit')).toBe('FAILED');
    const error = result.node('fit')?.error;
    expect(error).toMatchObject({
      code: 'PHYS_PACKAGE_WRITE_FAILED',
      retryable: false,
      details: { nodeId: 'fit', errno: 'ENOTDIR' },
    });
    expect(error?.message).toContain('ENOTDIR');
    expect(error?.message).not.toMatch(/space/);
    expect(result.error?.code).toBe('PHYS_PACKAGE_WRITE_FAILED');
    expect(() => result.throwIfFailed()).toThrow(/Cannot write the model package of node 'fit'/);
    expect(result.provenance.modelPackages).toMatchObject([
      { nodeId: 'fit', error: { code: 'PHYS_PACKAGE_WRITE_FAILED' } },
    ]);
  });

  it('leaves runs without modelArtifact nodes alone', async () => {
    const result = await new DagExecutor({
      scheduler: new LocalScheduler({ maxWorkers: 1 }),
      packager: new ModelArtifactPackager({ root: await tempDir() }),
      metrics: [],
    }).run(null, [{ id: 'data', stage: Data({ n: 2 }) }]);
    expect(result.provenance.modelPackages).toBeUndefined();
  });
});

describe('ml-packager plugin', () => {
  it('provides the packager, rooted at the config directory, to the executor plugin', async () => {
    const dir = await tempDir();
    const runtime = await createRuntime(
      {
        config: {
          plugins: [
            executorDag({ maxWorkers: 1 }),
            mlPackager({ root: 'out/models', archive: false }),
          ],
          pipelines: { fit: { kind: 'dag', nodes, initialState: null } },
        },
        configDir: dir,
      },
      { init: true },
    );
    try {
      expect(runtime.plugins.map((p) => p.provides)).toEqual([['executor'], ['packager']]);
      const packager = runtime.resolve(PackagerToken) as ModelArtifactPackager;
      expect(packager).toBeInstanceOf(ModelArtifactPackager);
      expect(packager.root).toBe(join(dir, 'out', 'models'));
      const { ExecutorToken } = await import('@phys/core');
      const result = (await runtime.resolve(ExecutorToken).execute({
        pipeline: 'fit',
        nodes,
        initialState: null,
        container: runtime.container,
      })) as unknown as { provenance: { modelPackages: { nodeId: string; path: string }[] } };
      const [only] = result.provenance.modelPackages;
      expect(only?.path.startsWith(join(dir, 'out', 'models', 'fit'))).toBe(true);
      expect(
        (await loadPackage(only?.path as string)).manifest.environment.packages,
      ).toHaveProperty('@phys/ml-packager');
    } finally {
      await runtime.dispose();
    }
  });
});

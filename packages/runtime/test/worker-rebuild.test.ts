import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  decodeState,
  encodeState,
  type PipelineStage,
  type SequentialPipelineDeclaration,
  type SerializedPhysError,
  type StageRef,
  silentLogger,
} from '@phys/core';
import {
  createRuntime,
  disposeRuntimes,
  loadConfig,
  loadRuntime,
  rebuildStage,
  SequentialPipeline,
} from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from './helpers/plugin-project.js';

const configFile = join(fixturesDir, 'project/phys.config.ts');

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly state?: unknown;
  readonly metrics?: Record<string, number>;
  readonly configHash?: string;
  readonly stages?: number;
  readonly error?: SerializedPhysError;
}

/** A worker thread running rebuild-worker.mjs, with request/response matching by id. */
function startWorker() {
  const worker = new Worker(new URL('./workers/rebuild-worker.mjs', import.meta.url), {
    // Workers inherit the parent's execArgv; the test runner's source condition would point
    // @phys/core at TypeScript sources the worker cannot load. The worker uses dist, as in production.
    execArgv: [],
  });
  const pending = new Map<number, (reply: Reply) => void>();
  worker.on('message', (reply: Reply) => pending.get(reply.id)?.(reply));
  let next = 0;
  return {
    request(ref: StageRef, state: unknown): Promise<Reply> {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, resolve);
        worker.once('error', reject);
        // The identity crosses the thread boundary as JSON, as it would in a task envelope.
        worker.postMessage({
          id,
          configFile,
          ref: JSON.parse(JSON.stringify(ref)),
          state: encodeState(state),
        });
      });
    },
    async close(): Promise<number> {
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      worker.postMessage({ type: 'close' });
      return exited;
    },
  };
}

describe('rebuilding stages by identity in a worker thread', () => {
  let worker: ReturnType<typeof startWorker>;
  let stages: readonly PipelineStage[];
  const beam = () => ({ intensity: new Float64Array([0.5, 1, 4]), label: 'probe' });

  beforeAll(async () => {
    worker = startWorker();
    const runtime = await createRuntime(await loadConfig({ configFile }), { logger: silentLogger });
    stages = (runtime.pipelines.main as SequentialPipelineDeclaration).stages;
    await runtime.dispose();
  });

  afterAll(async () => {
    await worker.close();
  });

  it('produces exactly what the same stage produces in the main thread', async () => {
    for (const stage of stages) {
      const local = await new SequentialPipeline([stage]).run(beam());
      const remote = await worker.request(stage.ref, beam());
      expect(remote.error).toBeUndefined();
      expect(remote.ok).toBe(true);
      const state = decodeState(remote.state as Uint8Array);
      expect(state).toEqual(local.state);
      expect((state as { intensity: unknown }).intensity).toBeInstanceOf(Float64Array);
      expect(remote.metrics).toEqual(local.metrics);
      expect(remote.configHash).toBe(stage.configHash);
      expect(remote.stages).toBe(2);
    }
  });

  it('reports an unknown stage as PHYS_STAGE_UNKNOWN from the worker', async () => {
    const reply = await worker.request({ name: 'beam/focus', version: '1', config: {} }, beam());
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe('PHYS_STAGE_UNKNOWN');
    expect(reply.error?.message).toContain('beam/scale@2');
  });

  it('reports a config its schema rejects as PHYS_STAGE_CONFIG_INVALID', async () => {
    const reply = await worker.request(
      { name: 'beam/shift', version: '1', config: { bye: 1 } },
      beam(),
    );
    expect(reply.error?.code).toBe('PHYS_STAGE_CONFIG_INVALID');
  });
});

describe('rebuildStage and loadRuntime in this thread', () => {
  afterAll(async () => {
    await disposeRuntimes();
  });

  it('loads a config once per process and reuses its runtime', async () => {
    const first = await loadRuntime(configFile);
    expect(await loadRuntime(configFile)).toBe(first);
    const stage = await rebuildStage(configFile, {
      name: 'beam/scale',
      version: '2',
      config: { factor: 5 },
    });
    expect(stage.config).toEqual({ factor: 5 });
    await disposeRuntimes();
    expect(await loadRuntime(configFile)).not.toBe(first);
  });

  it('PHYS_STAGE_UNKNOWN for a stage the config does not declare', async () => {
    await expect(
      rebuildStage(configFile, { name: 'beam/scale', version: '1', config: {} }),
    ).rejects.toMatchObject({ code: 'PHYS_STAGE_UNKNOWN' });
  });

  it('does not cache a failed load', async () => {
    const missing = join(fixturesDir, 'nowhere/phys.config.ts');
    await expect(loadRuntime(missing)).rejects.toMatchObject({ code: 'PHYS_CONFIG_NOT_FOUND' });
    await expect(loadRuntime(missing)).rejects.toMatchObject({ code: 'PHYS_CONFIG_NOT_FOUND' });
  });
});

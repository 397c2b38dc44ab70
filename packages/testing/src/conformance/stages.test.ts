import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PipelineStage } from '@phys/core';
import { PolicyBag } from '@phys/core';
import { disposeRuntimes, executeTask, rebuildStage } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformanceConfigFile } from './config-file.js';
import {
  ConformanceEcho,
  ConformanceFail,
  ConformanceResources,
  ConformanceSleep,
  conformanceStages,
} from './stages.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-conformance-stages-'));
});
afterAll(async () => {
  await disposeRuntimes();
  await rm(dir, { recursive: true, force: true });
});

const grant = { cpu: 3, gpuIds: [0, 1], mpiRanks: 1, memoryBytes: 1024 };
function run(stage: PipelineStage, input: unknown, signal = new AbortController().signal) {
  return executeTask({
    stage,
    input,
    policy: new PolicyBag({ seed: 7 }),
    runId: 'r',
    nodeId: 'n',
    attempt: 2,
    resources: grant,
    signal,
  });
}

describe('conformance stages', () => {
  it('the bundled config declares all four, rebuildable by identity', async () => {
    expect(conformanceStages.map((d) => d.stageName)).toEqual([
      'conformance/echo',
      'conformance/fail',
      'conformance/sleep',
      'conformance/resources',
    ]);
    for (const definition of conformanceStages) {
      const config = definition.stageName === 'conformance/fail' ? { message: 'x' } : {};
      const ref = definition(config).ref;
      const rebuilt = await rebuildStage(conformanceConfigFile(), ref);
      expect(rebuilt.ref).toEqual(ref);
    }
  });

  it('echo scales the values and echoes the input, with metrics and provenance', async () => {
    const input = { values: new Float64Array([1, -2]), extra: new Map([['k', 1n]]) };
    const out = await run(ConformanceEcho({ scale: 3, tag: 't' }), input);
    expect(out.state).toMatchObject({ values: new Float64Array([3, -6]), input, tag: 't' });
    expect(out.metrics).toEqual({ count: 2, sum: -3 });
    expect(out.provenance).toEqual({
      stage: 'conformance/echo',
      tag: 't',
      runId: 'r',
      nodeId: 'n',
      attempt: 2,
      policy: { seed: 7 },
    });
  });

  it('fail throws a plain error, or a PhysError with the configured code', async () => {
    await expect(run(ConformanceFail({ message: 'plain' }), {})).rejects.toMatchObject({
      code: 'PHYS_STAGE_FAILED',
    });
    await expect(
      run(ConformanceFail({ message: 'coded', code: 'PHYS_X', retryable: true }), {}),
    ).rejects.toMatchObject({ code: 'PHYS_X', retryable: true, message: 'coded' });
  });

  it('sleep writes its marker, waits for the gate, and stops when aborted', async () => {
    const gate = join(dir, 'gate');
    const marker = join(dir, 'marker');
    const running = run(ConformanceSleep({ seconds: 30, gate, marker }), {});
    while ((await readFile(marker, 'utf8').catch(() => '')) === '') {
      await new Promise((r) => setTimeout(r, 10));
    }
    await writeFile(gate, '');
    expect((await running).state).toEqual({ released: true });
    expect((await run(ConformanceSleep({ seconds: 0 }), {})).state).toEqual({ released: false });

    const controller = new AbortController();
    const aborted = run(ConformanceSleep({ seconds: 30 }), {}, controller.signal);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'PHYS_CANCELLED' });
  });

  it('resources reports what the stage was granted', async () => {
    const out = await run(ConformanceResources({}), {});
    expect(out.state).toMatchObject({ cpu: 3, gpuIds: [0, 1], mpiRanks: 1, memoryBytes: 1024 });
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineStage, type Logger, PolicyBag, TASK_EXIT_CODES } from '@phys/core';
import {
  readResultEnvelope,
  readTaskEnvelope,
  type TaskEnvelopeInit,
  writeTaskEnvelope,
} from '@phys/scheduler-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { taskEnvelopeEntry } from './entry.js';
import { executeTask, executeTaskEager } from './execute-task.js';
import { runTaskEnvelope } from './run-envelope.js';

const configFile = fileURLToPath(
  new URL('../../test/fixtures/project/phys.config.ts', import.meta.url),
);
const grant = { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-envelope-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function init(nodeId: string, config: unknown): TaskEnvelopeInit {
  return {
    runId: 'run-1',
    nodeId,
    attempt: 1,
    stage: { name: 'beam/scale', version: '2', config },
    label: 'scale',
    configFile,
    policy: { seed: 7 },
    resources: grant,
  };
}

describe('task envelopes', () => {
  it('round-trips a task envelope and executes it in this process', async () => {
    const file = await writeTaskEnvelope(join(dir, 'ok'), init('ok', { factor: 3 }), {
      intensity: new Float64Array([1, 2]),
      label: 'beam',
    });
    expect((await readTaskEnvelope(file)).stage.name).toBe('beam/scale');
    expect(await runTaskEnvelope(file)).toBe(TASK_EXIT_CODES.COMPLETED);
    const result = await readResultEnvelope(file);
    expect(result?.envelope).toMatchObject({
      status: 'COMPLETED',
      nodeId: 'ok',
      metrics: { peak: 6 },
    });
    expect(result?.state).toEqual({ intensity: new Float64Array([3, 6]), label: 'beam' });
    expect(await readFile(join(dir, 'ok', 'exit-code'), 'utf8')).toBe('0\n');
  });

  it('writes a FAILED result with the error when the stage config is invalid', async () => {
    const file = await writeTaskEnvelope(join(dir, 'bad'), init('bad', { factor: 'x' }), {});
    expect(await runTaskEnvelope(file)).toBe(TASK_EXIT_CODES.FAILED);
    const result = await readResultEnvelope(file);
    expect(result?.envelope.status).toBe('FAILED');
    expect(result?.envelope.error?.code).toBe('PHYS_STAGE_CONFIG_INVALID');
  });

  it('refuses a file that is not a task envelope', async () => {
    const file = join(dir, 'junk.json');
    await writeFile(file, '{"format":"something-else"}');
    expect(await runTaskEnvelope(file)).toBe(TASK_EXIT_CODES.UNUSABLE);
    await expect(readTaskEnvelope(file)).rejects.toMatchObject({ code: 'PHYS_USAGE' });
  });

  it('executes an envelope in a child process through the entry script', async () => {
    const file = await writeTaskEnvelope(join(dir, 'child'), init('child', { factor: 2 }), {
      intensity: new Float64Array([5]),
      label: 'b',
    });
    const child = spawnSync(process.execPath, [taskEnvelopeEntry(), file], { encoding: 'utf8' });
    expect(child.status).toBe(0);
    expect((await readResultEnvelope(file))?.state).toEqual({
      intensity: new Float64Array([10]),
      label: 'b',
    });
  });

  it('executeTask wraps foreign errors and replaces lazy artifacts when not recording', async () => {
    const Thing = defineStage({
      name: 'test/thing',
      config: z.object({ fail: z.boolean() }),
      process: (state: unknown, ctx) => {
        if (ctx.config.fail) throw new TypeError('bad input');
        return { state, artifacts: { plot: () => 'lazy', small: 3 } };
      },
    });
    const base = {
      input: 1,
      policy: PolicyBag.empty,
      runId: 'r',
      nodeId: 'n',
      attempt: 1,
      resources: grant,
      signal: new AbortController().signal,
    };
    const ok = await executeTask({ ...base, stage: Thing({ fail: false }) });
    expect(ok.artifacts).toEqual({ plot: { lazy: true, recorded: false }, small: 3 });
    await expect(executeTask({ ...base, stage: Thing({ fail: true }) })).rejects.toMatchObject({
      code: 'PHYS_STAGE_FAILED',
      message: expect.stringContaining('bad input'),
    });
  });

  it('executeTaskEager answers a synchronous stage without a promise, and waits for the others', async () => {
    const lines: string[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      child: (fields) => ({ ...logger, info: (m) => lines.push(`${String(fields.node)}: ${m}`) }),
    };
    const Step = defineStage({
      name: 'test/step',
      config: z.object({ mode: z.enum(['sync', 'async', 'throw', 'null']) }),
      process: (state: number, ctx) => {
        ctx.logger.info(`step ${ctx.config.mode}`);
        if (ctx.config.mode === 'throw') throw new RangeError('out of range');
        if (ctx.config.mode === 'null') return null as never;
        const out = { state: state + 1, metrics: { n: 1 } };
        return ctx.config.mode === 'async' ? Promise.resolve(out) : out;
      },
    });
    const base = {
      input: 1,
      policy: PolicyBag.empty,
      runId: 'r',
      attempt: 1,
      resources: grant,
      signal: new AbortController().signal,
      logger,
    };
    const now = executeTaskEager({ ...base, nodeId: 'a', stage: Step({ mode: 'sync' }) });
    expect(now).not.toBeInstanceOf(Promise);
    expect(now).toMatchObject({ state: 2, metrics: { n: 1 } });
    const later = executeTaskEager({ ...base, nodeId: 'b', stage: Step({ mode: 'async' }) });
    expect(later).toBeInstanceOf(Promise);
    await expect(later).resolves.toMatchObject({ state: 2, metrics: { n: 1 } });
    expect(() =>
      executeTaskEager({ ...base, nodeId: 'c', stage: Step({ mode: 'throw' }) }),
    ).toThrow(expect.objectContaining({ code: 'PHYS_STAGE_FAILED' }));
    expect(() => executeTaskEager({ ...base, nodeId: 'd', stage: Step({ mode: 'null' }) })).toThrow(
      expect.objectContaining({ code: 'PHYS_STAGE_CONTRACT' }),
    );
    // The stage's logger names its node, whichever way it ran.
    expect(lines).toEqual(['a: step sync', 'b: step async', 'c: step throw', 'd: step null']);
  });
});

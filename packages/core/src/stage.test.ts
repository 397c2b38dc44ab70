import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StageConfigError, StageContractError } from './errors.js';
import { silentLogger } from './logger.js';
import { PolicyBag } from './policy.js';
import type { StageContext } from './stage.js';
import { defineStage, isStage, isStageDefinition } from './stage.js';

const Scale = defineStage({
  name: 'demo/scale',
  version: '2',
  description: 'Multiplies x by a factor',
  config: z.object({
    factor: z.number().default(2),
    grid: z.object({ nx: z.number(), ny: z.number() }).optional(),
  }),
  process: (state: { x: number }, ctx) => ({
    state: { x: state.x * ctx.config.factor },
    metrics: { factor: ctx.config.factor },
  }),
});

function context<C>(config: C): StageContext<C> {
  return {
    config,
    policy: PolicyBag.empty,
    signal: new AbortController().signal,
    logger: silentLogger,
    resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
    artifacts: { recording: false, write: async () => undefined },
    runId: 'run-1',
    nodeId: 'node-1',
    attempt: 1,
  };
}

describe('defineStage', () => {
  it('builds a configured stage with a validated, frozen config', async () => {
    const stage = Scale({ factor: 3 });
    expect(stage.name).toBe('demo/scale');
    expect(stage.version).toBe('2');
    expect(stage.config).toEqual({ factor: 3 });
    expect(Object.isFrozen(stage.config)).toBe(true);
    expect(Object.isFrozen(stage)).toBe(true);
    expect(stage.definition).toBe(Scale);
    expect(await stage.process({ x: 2 }, context(stage.config))).toEqual({
      state: { x: 6 },
      metrics: { factor: 3 },
    });
  });

  it('applies defaults when called without a config', () => {
    expect(Scale().config).toEqual({ factor: 2 });
  });

  it('labels a stage with its name unless told otherwise', () => {
    expect(Scale().label).toBe('demo/scale');
    expect(Scale({}, { label: 'double' }).label).toBe('double');
  });

  it('exposes a ref from which the same stage can be rebuilt', () => {
    const stage = Scale({ factor: 5 });
    expect(stage.ref).toEqual({ name: 'demo/scale', version: '2', config: { factor: 5 } });
    const copy = JSON.parse(JSON.stringify(stage.ref)) as typeof stage.ref;
    expect(Scale(copy.config as { factor: number }).configHash).toBe(stage.configHash);
  });

  it('rejects a bad config with every problem and its path', () => {
    try {
      Scale({ factor: 'x', grid: { nx: 1 }, extra: 1 } as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StageConfigError);
      const issues = (error as StageConfigError).issues.map((i) => i.path).sort();
      expect(issues).toEqual(['extra', 'factor', 'grid.ny']);
      expect((error as StageConfigError).stage).toBe('demo/scale');
    }
    expect(() => Scale.parseConfig({ factor: 'x' })).toThrow(StageConfigError);
    expect(Scale.parseConfig({})).toEqual({ factor: 2 });
  });

  it('describes itself', () => {
    expect(Scale.stageName).toBe('demo/scale');
    expect(Scale.version).toBe('2');
    expect(Scale.description).toBe('Multiplies x by a factor');
    expect(Scale.source).toContain('ctx.config.factor');
    expect(isStageDefinition(Scale)).toBe(true);
    expect(isStage(Scale())).toBe(true);
    expect(isStage({ name: 'demo/scale', process() {} })).toBe(false);
    expect(isStageDefinition(() => undefined)).toBe(false);
  });

  it('defaults the version to "1"', () => {
    const Plain = defineStage({
      name: 'demo/plain',
      config: z.object({}),
      process: (state: number) => ({ state }),
    });
    expect(Plain().version).toBe('1');
  });

  it('refuses a definition without a name or a process function', () => {
    expect(() =>
      defineStage({ name: ' ', config: z.object({}), process: (s: unknown) => ({ state: s }) }),
    ).toThrow(StageContractError);
    expect(() =>
      defineStage({ name: 'demo/x', config: z.object({}) } as unknown as Parameters<
        typeof defineStage
      >[0]),
    ).toThrow(/needs a `process\(state, ctx\)` function/);
  });
});

describe('configHash', () => {
  const Shift = defineStage({
    name: 'demo/shift',
    version: '2',
    config: z.object({
      factor: z.number().default(2),
      grid: z.object({ nx: z.number(), ny: z.number() }).optional(),
    }),
    process: (state: { x: number }) => ({ state }),
  });

  it('differs between two stages with equal configs', () => {
    expect(Scale({ factor: 3 }).configHash).not.toBe(Shift({ factor: 3 }).configHash);
  });

  it('differs between versions of one stage', () => {
    const ScaleV3 = defineStage({
      name: 'demo/scale',
      version: '3',
      config: Scale.schema,
      process: (state: { x: number }) => ({ state }),
    });
    expect(ScaleV3({ factor: 3 }).configHash).not.toBe(Scale({ factor: 3 }).configHash);
  });

  it('is equal for one stage with one config, whatever the key order or label', () => {
    const a = Scale({ factor: 3, grid: { nx: 1, ny: 2 } });
    const b = Scale({ grid: { ny: 2, nx: 1 }, factor: 3 }, { label: 'other' });
    expect(a.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.configHash).toBe(b.configHash);
    expect(Scale({ factor: 2 }).configHash).toBe(Scale().configHash);
    expect(Scale({ factor: 4 }).configHash).not.toBe(a.configHash);
  });
});

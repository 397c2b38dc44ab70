import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StageConfigError } from './errors.js';
import { formatPath, parseStageConfig, strictSchema, zodIssues } from './stage-config.js';

function configError(fn: () => unknown): StageConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StageConfigError);
    return error as StageConfigError;
  }
  throw new Error('expected a StageConfigError');
}

const paths = (error: StageConfigError) => error.issues.map((i) => i.path);

const Heat = z.object({
  alpha: z.number().positive().default(1e-4),
  grid: z.object({ nx: z.number().int().default(64), length: z.number().default(1) }).default({
    nx: 64,
    length: 1,
  }),
  boundary: z.enum(['dirichlet', 'neumann']).default('dirichlet'),
});

describe('parseStageConfig', () => {
  it('applies defaults, also for a missing or null config', () => {
    const expected = { alpha: 1e-4, grid: { nx: 64, length: 1 }, boundary: 'dirichlet' };
    expect(parseStageConfig('demo/heat', Heat, {})).toEqual(expected);
    expect(parseStageConfig('demo/heat', Heat, undefined)).toEqual(expected);
    expect(parseStageConfig('demo/heat', Heat, null)).toEqual(expected);
    expect(parseStageConfig('demo/heat', Heat, { grid: { nx: 8 } })).toEqual({
      ...expected,
      grid: { nx: 8, length: 1 },
    });
  });

  it('rejects an unknown top-level key instead of dropping it', () => {
    const error = configError(() => parseStageConfig('demo/heat', Heat, { alpah: 0.1 }));
    expect(error.stage).toBe('demo/heat');
    expect(error.code).toBe('PHYS_STAGE_CONFIG_INVALID');
    expect(error.issues).toEqual([
      { path: 'alpah', message: expect.stringContaining('unknown key') },
    ]);
    expect(error.message).toContain("Invalid config for stage 'demo/heat'");
    expect(error.message).toContain('  - alpah: unknown key');
  });

  it.each([
    [
      'a nested object',
      z.object({ grid: z.object({ nx: z.number() }) }),
      { grid: { nx: 1, ny: 2 } },
      'grid.ny',
    ],
    [
      'an array of objects',
      z.object({ layers: z.array(z.object({ kind: z.string() })) }),
      { layers: [{ kind: 'a' }, { kind: 'b', knd: 'c' }] },
      'layers[1].knd',
    ],
    [
      'an optional object',
      z.object({ probe: z.object({ at: z.number() }).optional() }),
      { probe: { at: 1, every: 2 } },
      'probe.every',
    ],
    [
      'an object with a default',
      z.object({ out: z.object({ dir: z.string() }).default({ dir: 'out' }) }),
      { out: { dir: 'x', format: 'csv' } },
      'out.format',
    ],
    [
      'a nullable object',
      z.object({ seed: z.object({ value: z.number() }).nullable() }),
      { seed: { value: 1, vaule: 2 } },
      'seed.vaule',
    ],
    [
      'a record of objects',
      z.object({ species: z.record(z.string(), z.object({ mass: z.number() })) }),
      { species: { electron: { mass: 1, charge: -1 } } },
      'species.electron.charge',
    ],
    [
      'a union member',
      z.object({
        source: z.union([z.object({ file: z.string() }), z.object({ url: z.string() })]),
      }),
      { source: { file: 'a.h5', format: 'h5' } },
      'source.format',
    ],
    [
      'a discriminated union member',
      z.object({
        layers: z.array(
          z.discriminatedUnion('kind', [
            z.object({ kind: z.literal('dense'), units: z.number() }),
            z.object({ kind: z.literal('conv'), filters: z.number() }),
          ]),
        ),
      }),
      {
        layers: [
          { kind: 'dense', units: 3 },
          { kind: 'conv', filters: 2, units: 1 },
        ],
      },
      'layers[1].units',
    ],
    [
      'a tuple element',
      z.object({ span: z.tuple([z.object({ at: z.number() })]) }),
      { span: [{ at: 1, to: 2 }] },
      'span[0].to',
    ],
    [
      'an intersection',
      z.object({ a: z.number() }).and(z.object({ b: z.object({ c: z.number() }) })),
      { a: 1, b: { c: 2, d: 3 } },
      'b.d',
    ],
  ])('rejects an unknown key inside %s with its path', (_what, schema, input, path) => {
    const error = configError(() => parseStageConfig('demo/s', schema, input));
    expect(paths(error)).toEqual([path]);
  });

  it('accepts the keys of both sides of an intersection, and nothing else', () => {
    const schema = z.object({ a: z.number() }).and(z.object({ b: z.number() }));
    expect(parseStageConfig('demo/s', schema, { a: 1, b: 2 })).toEqual({ a: 1, b: 2 });
    expect(
      paths(configError(() => parseStageConfig('demo/s', schema, { a: 1, b: 2, c: 3 }))),
    ).toEqual(['c']);
  });

  it('names the discriminator when no union member matches', () => {
    const schema = z.object({
      layers: z.array(
        z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('dense') }),
          z.object({ kind: z.literal('conv') }),
        ]),
      ),
    });
    const error = configError(() =>
      parseStageConfig('demo/s', schema, { layers: [{ kind: 'dense' }, { kind: 'pool' }] }),
    );
    expect(paths(error)).toEqual(['layers[1].kind']);
  });

  it('says which types a union of scalars accepts', () => {
    const schema = z.object({ size: z.union([z.number(), z.string()]) });
    const error = configError(() => parseStageConfig('demo/s', schema, { size: true }));
    expect(error.issues).toEqual([{ path: 'size', message: 'expected one of: number | string' }]);
  });

  it('reports several problems together in one error', () => {
    const error = configError(() =>
      parseStageConfig('demo/heat', Heat, {
        alpha: -1,
        grid: { nx: 'big', ny: 3 },
        boundary: 'periodic',
        typo: true,
      }),
    );
    expect(paths(error).sort()).toEqual(['alpha', 'boundary', 'grid.nx', 'grid.ny', 'typo']);
    expect(error.message).toContain('(5 problems)');
    for (const path of paths(error)) expect(error.message).toContain(`  - ${path}: `);
  });

  it('returns a deep-frozen config', () => {
    const schema = z.object({
      grid: z.object({ nx: z.number() }),
      layers: z.array(z.object({ n: z.number() })),
    });
    const config = parseStageConfig('demo/s', schema, { grid: { nx: 1 }, layers: [{ n: 1 }] });
    expect(() => {
      (config as { grid: { nx: number } }).grid.nx = 2;
    }).toThrow(TypeError);
    expect(() => {
      (config.layers as { n: number }[]).push({ n: 2 });
    }).toThrow(TypeError);
    expect(() => {
      (config as Record<string, unknown>).extra = 1;
    }).toThrow(TypeError);
    expect(config).toEqual({ grid: { nx: 1 }, layers: [{ n: 1 }] });
  });

  it('keeps refinements, on the object and on nested fields', () => {
    const schema = z
      .object({
        lo: z.number(),
        hi: z.number(),
        grid: z.object({ nx: z.number().refine((n) => n % 2 === 0, 'nx must be even') }),
      })
      .refine((c) => c.lo < c.hi, { message: 'lo must be below hi', path: ['lo'] });
    expect(parseStageConfig('demo/s', schema, { lo: 0, hi: 1, grid: { nx: 2 } })).toEqual({
      lo: 0,
      hi: 1,
      grid: { nx: 2 },
    });
    expect(
      configError(() => parseStageConfig('demo/s', schema, { lo: 2, hi: 1, grid: { nx: 2 } }))
        .issues,
    ).toEqual([{ path: 'lo', message: 'lo must be below hi' }]);
    expect(
      configError(() => parseStageConfig('demo/s', schema, { lo: 0, hi: 1, grid: { nx: 3 } }))
        .issues,
    ).toEqual([{ path: 'grid.nx', message: 'nx must be even' }]);
  });

  it('keeps transforms and coercions', () => {
    const schema = z.object({
      dt: z.coerce.number(),
      label: z.string().transform((s) => s.toUpperCase()),
    });
    expect(parseStageConfig('demo/s', schema, { dt: '0.5', label: 'run' })).toEqual({
      dt: 0.5,
      label: 'RUN',
    });
  });

  it('keeps the extra keys of objects that declare .passthrough() or a catchall', () => {
    const schema = z.object({
      meta: z.object({ id: z.string() }).passthrough(),
      env: z.object({}).catchall(z.string()),
    });
    const config = parseStageConfig('demo/s', schema, {
      meta: { id: 'a', note: 'kept' },
      env: { OMP_NUM_THREADS: '4' },
    });
    expect(config).toEqual({ meta: { id: 'a', note: 'kept' }, env: { OMP_NUM_THREADS: '4' } });
    expect(
      paths(
        configError(() => parseStageConfig('demo/s', schema, { meta: { id: 'a' }, env: { N: 4 } })),
      ),
    ).toEqual(['env.N']);
  });
});

describe('strictSchema', () => {
  it('returns the same strict copy for the same schema and leaves the original alone', () => {
    const schema = z.object({ a: z.object({ b: z.number() }) });
    expect(strictSchema(schema)).toBe(strictSchema(schema));
    expect(schema.parse({ a: { b: 1, c: 2 }, d: 3 })).toEqual({ a: { b: 1 } });
    expect(strictSchema(schema).safeParse({ a: { b: 1, c: 2 } }).success).toBe(false);
  });
});

describe('zodIssues and formatPath', () => {
  it('prefixes paths and splits unknown keys into one issue each', () => {
    const result = z.object({ a: z.number() }).strict().safeParse({ a: 'x', b: 1, c: 2 });
    expect(result.success).toBe(false);
    if (result.success) return;
    expect(zodIssues(result.error, ['plugins', 1, 'options'])).toEqual([
      { path: 'plugins[1].options.a', message: expect.stringContaining('expected number') },
      { path: 'plugins[1].options.b', message: expect.stringContaining('unknown key') },
      { path: 'plugins[1].options.c', message: expect.stringContaining('unknown key') },
    ]);
  });

  it('renders paths with dots for keys and brackets for indices', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['grid', 'nx'])).toBe('grid.nx');
    expect(formatPath(['layers', 1, 'kind'])).toBe('layers[1].kind');
    expect(formatPath([0, 'a'])).toBe('[0].a');
  });
});

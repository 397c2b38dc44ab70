import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResourceError } from './errors.js';
import {
  DEFAULT_RESOURCES,
  normalizeResources,
  parseCpu,
  parseMemory,
  parseWallTime,
  ResourceRequirements,
  resetResourceDeprecationWarning,
  resources,
} from './resources.js';

const Gi = 1024 ** 3;
const Mi = 1024 ** 2;

function resourceError(fn: () => unknown): ResourceError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ResourceError);
    return error as ResourceError;
  }
  throw new Error('expected a ResourceError');
}

describe('cpu', () => {
  it.each([
    [2, 2],
    ['2', 2],
    [0.5, 0.5],
    ['500m', 0.5],
    ['1.5', 1.5],
    ['250m', 0.25],
  ])('%j → %d cores', (input, cores) => {
    expect(parseCpu(input)).toBe(cores);
    expect(resources({ cpu: input }).cpu).toBe(cores);
  });

  it.each(['two', '-1', '0', '0m', '5x', '', '1e3', '2 cores'])('rejects %j', (input) => {
    const error = resourceError(() => resources({ cpu: input }));
    expect(error.code).toBe('PHYS_RESOURCES_INVALID');
    expect(error.message).toContain(JSON.stringify(input));
    expect(error.message).toContain('"500m"');
  });

  it.each([0, -2, Number.NaN, Number.POSITIVE_INFINITY])('rejects the number %d', (input) => {
    expect(() => parseCpu(input)).toThrow(ResourceError);
  });
});

describe('memory', () => {
  it.each([
    ['4Gi', 4 * Gi],
    ['512Mi', 512 * Mi],
    ['2G', 2e9],
    ['2GB', 2e9],
    ['1.5Gi', 1.5 * Gi],
    ['100M', 1e8],
    ['64Ki', 64 * 1024],
    ['1024', 1024],
    ['1024B', 1024],
    [4096, 4096],
  ])('%j → %d bytes', (input, bytes) => {
    expect(parseMemory(input)).toBe(bytes);
    expect(resources({ memory: input }).memoryBytes).toBe(bytes);
  });

  it.each(['4gb', '4 gigs', '-1Gi', '0', '4Pi', 'Gi', '5x'])('rejects %j', (input) => {
    const error = resourceError(() => resources({ memory: input }));
    expect(error.message).toContain(JSON.stringify(input));
    expect(error.message).toContain('"4Gi"');
  });

  it('is undefined when not stated', () => {
    expect(resources().memoryBytes).toBeUndefined();
  });
});

describe('wall time', () => {
  it.each([
    ['02:00:00', 7200],
    ['1-00:00:00', 86400],
    ['1-12', 86400 + 12 * 3600],
    ['1-02:30', 86400 + 2 * 3600 + 30 * 60],
    ['90:00', 5400],
    ['05:30', 330],
    ['90m', 5400],
    ['45s', 45],
    ['2h', 7200],
    ['1d', 86400],
    [3600, 3600],
  ])('%j → %d s', (input, seconds) => {
    expect(parseWallTime(input)).toBe(seconds);
    expect(resources({ wallTime: input }).wallTimeSeconds).toBe(seconds);
  });

  it.each(['1:99', '1:90:00', '1-25:00:00', '5x', 'two hours', '-1', '0', '00:00', ''])(
    'rejects %j',
    (input) => {
      const error = resourceError(() => resources({ wallTime: input }));
      expect(error.message).toContain(JSON.stringify(input));
      expect(error.message).toContain('"HH:MM:SS"');
    },
  );
});

describe('gpu and mpi ranks', () => {
  it('defaults to one cpu, no gpu, one rank and no limits', () => {
    const r = resources();
    expect(r).toMatchObject({ cpu: 1, gpu: 0, mpiRanks: 1, wallTimeSeconds: undefined });
    expect(DEFAULT_RESOURCES.toJSON()).toEqual({ cpu: 1, gpu: 0, mpiRanks: 1 });
  });

  it('accepts whole counts', () => {
    expect(resources({ gpu: 2, mpiRanks: 4 })).toMatchObject({ gpu: 2, mpiRanks: 4 });
    expect(resources({ gpu: 0 }).gpu).toBe(0);
  });

  it.each([
    [{ gpu: 1.5 }, 'gpu'],
    [{ gpu: -1 }, 'gpu'],
    [{ mpiRanks: 0 }, 'mpiRanks'],
    [{ mpiRanks: 2.5 }, 'mpiRanks'],
  ])('rejects %j', (spec, name) => {
    const error = resourceError(() => resources(spec));
    expect(error.message).toContain(name);
    expect(error.message).toContain('whole number');
  });

  it('counts cpu slots as cpu × mpi ranks', () => {
    expect(resources({ cpu: 2, mpiRanks: 4 }).cpuSlots).toBe(8);
    expect(resources({ cpu: '500m', mpiRanks: 2 }).cpuSlots).toBe(1);
    expect(resources().cpuSlots).toBe(1);
  });
});

describe('ResourceRequirements', () => {
  it('rejects unknown keys, naming them and the accepted ones', () => {
    const error = resourceError(() => resources({ cpus: 2, ram: '4Gi' } as never));
    expect(error.message).toContain("'cpus', 'ram'");
    expect(error.message).toContain('cpu, memory, gpu, mpiRanks, wallTime or tags');
  });

  it('is immutable', () => {
    const r = resources({ cpu: 2, tags: { partition: 'gpu' } });
    expect(() => {
      (r as { cpu: number }).cpu = 8;
    }).toThrow(TypeError);
    expect(() => {
      (r.tags as Record<string, string>).partition = 'cpu';
    }).toThrow(TypeError);
    expect(r.cpu).toBe(2);
  });

  it('serialises to a spec that parses back to the same requirements', () => {
    const r = resources({
      cpu: '500m',
      memory: '4Gi',
      gpu: 1,
      wallTime: '01:00:00',
      tags: { a: 'b' },
    });
    expect(r.toJSON()).toEqual({
      cpu: 0.5,
      memory: 4 * Gi,
      gpu: 1,
      mpiRanks: 1,
      wallTime: 3600,
      tags: { a: 'b' },
    });
    expect(resources(r.toJSON())).toEqual(r);
  });

  it('is recognised across copies by ResourceRequirements.is', () => {
    expect(ResourceRequirements.is(resources())).toBe(true);
    expect(ResourceRequirements.is({ cpu: 1 })).toBe(false);
    const foreign = Object.create({ [Symbol.for('@phys/core:ResourceRequirements')]: true });
    expect(ResourceRequirements.is(foreign)).toBe(true);
  });
});

describe('normalizeResources', () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  const nextTick = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(() => {
    warnings.length = 0;
    resetResourceDeprecationWarning();
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('warning', onWarning);
  });

  it('passes ResourceRequirements through and defaults undefined', () => {
    const r = resources({ cpu: 4 });
    expect(normalizeResources(r)).toBe(r);
    expect(normalizeResources(undefined)).toBe(DEFAULT_RESOURCES);
  });

  it('accepts the plain-object form with exactly one DeprecationWarning per process', async () => {
    expect(normalizeResources({ cpu: 2, memory: '4Gi' })).toMatchObject({
      cpu: 2,
      memoryBytes: 4 * Gi,
    });
    expect(normalizeResources({ cpu: '500m' }).cpu).toBe(0.5);
    expect(normalizeResources({ gpu: 1 }).gpu).toBe(1);
    await nextTick();
    const deprecations = warnings.filter((w) => w.name === 'DeprecationWarning');
    expect(deprecations).toHaveLength(1);
    expect((deprecations[0] as Error & { code?: string }).code).toBe('PHYS_DEP_PLAIN_RESOURCES');
    expect(deprecations[0]?.message).toContain('resources({ ... })');
  });

  it('does not warn for ResourceRequirements', async () => {
    normalizeResources(resources({ cpu: 2 }));
    normalizeResources(undefined);
    await nextTick();
    expect(warnings.filter((w) => w.name === 'DeprecationWarning')).toHaveLength(0);
  });

  it('converts the legacy memory_gb / mpi_ranks / wall_time keys', () => {
    const r = normalizeResources({ cpu: 1, gpu: 2, memory_gb: 16, mpi_ranks: 4, wall_time: '2h' });
    expect(r).toMatchObject({
      cpu: 1,
      gpu: 2,
      memoryBytes: 16e9,
      mpiRanks: 4,
      wallTimeSeconds: 7200,
    });
    expect(normalizeResources({ memory_gb: null }).memoryBytes).toBeUndefined();
  });

  it('still validates converted objects', () => {
    expect(() => normalizeResources({ cpu: 'two' })).toThrow(/Invalid cpu "two"/);
    expect(() => normalizeResources({ storage: '10Gi' })).toThrow(/Unknown resource key 'storage'/);
    expect(() => normalizeResources('4 cpus' as never)).toThrow(ResourceError);
  });
});

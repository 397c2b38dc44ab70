import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parsePluginOptions } from './parse-plugin-options.js';

const schema = z.object({
  partition: z.string(),
  account: z.string().optional(),
  limits: z.object({ jobs: z.number().int().positive().default(100) }).default({ jobs: 100 }),
  hosts: z.array(z.object({ name: z.string() })).optional(),
});

function issuesOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected parsePluginOptions to throw');
}

describe('parsePluginOptions', () => {
  it('returns the parsed options with defaults applied', () => {
    expect(parsePluginOptions('scheduler-slurm', schema, { partition: 'gpu' })).toEqual({
      partition: 'gpu',
      limits: { jobs: 100 },
    });
  });

  it('reports every problem, nested ones included, under plugins.<name>.<path>', () => {
    const error = issuesOf(() =>
      parsePluginOptions('scheduler-slurm', schema, {
        partiton: 'gpu',
        limits: { jobs: -1, job: 3 },
        hosts: [{ name: 'a' }, { nmae: 'b' }],
      }),
    );
    expect(error.code).toBe('PHYS_CONFIG_INVALID');
    expect(error.issues.map((i) => i.path).sort()).toEqual(
      [
        'plugins.scheduler-slurm.partition',
        'plugins.scheduler-slurm.partiton',
        'plugins.scheduler-slurm.limits.jobs',
        'plugins.scheduler-slurm.limits.job',
        'plugins.scheduler-slurm.hosts[1].name',
        'plugins.scheduler-slurm.hosts[1].nmae',
      ].sort(),
    );
    expect(error.message).toContain("plugin 'scheduler-slurm' (6 problems)");
    expect(error.message).toContain('plugins.scheduler-slurm.partiton');
  });

  it('validates undefined options as {} so a bare name entry gets the defaults', () => {
    const optional = z.object({ verbose: z.boolean().default(false) });
    expect(parsePluginOptions('quiet', optional, undefined)).toEqual({ verbose: false });
    const error = issuesOf(() => parsePluginOptions('scheduler-slurm', schema, undefined));
    expect(error.issues.map((i) => i.path)).toEqual(['plugins.scheduler-slurm.partition']);
  });
});

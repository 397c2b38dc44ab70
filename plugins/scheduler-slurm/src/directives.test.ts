import { resources } from '@phys/core';
import { describe, expect, it } from 'vitest';
import {
  arrayDirective,
  formatSlurmTime,
  jobName,
  literalSlurmPath,
  resourceDirectives,
} from './directives.js';

describe('resourceDirectives', () => {
  it('asks for one core and nothing else by default', () => {
    expect(resourceDirectives(resources())).toEqual(['--cpus-per-task=1']);
  });

  it('turns cpu, memory, gpus, mpi ranks and wall time into sbatch options', () => {
    expect(
      resourceDirectives(
        resources({ cpu: 4, memory: '4Gi', gpu: 2, mpiRanks: 8, wallTime: '1-02:03:04' }),
        { partition: 'gpu', account: 'phys-lab', qos: 'normal' },
      ),
    ).toEqual([
      '--partition=gpu',
      '--account=phys-lab',
      '--qos=normal',
      '--ntasks=8',
      '--cpus-per-task=4',
      '--mem=4096M',
      '--gpus=2',
      '--time=1-02:03:04',
    ]);
  });

  it('rounds fractional cpus and decimal memory up', () => {
    expect(resourceDirectives(resources({ cpu: '500m', memory: '1G' }))).toEqual([
      '--cpus-per-task=1',
      '--mem=954M',
    ]);
    expect(resourceDirectives(resources({ cpu: 1.5 }))).toEqual(['--cpus-per-task=2']);
  });

  it('lets resource tags choose the partition, account, qos and constraint', () => {
    const req = resources({ tags: { partition: 'bigmem', constraint: 'haswell', note: 'x' } });
    expect(resourceDirectives(req, { partition: 'debug', qos: 'low' })).toEqual([
      '--partition=bigmem',
      '--qos=low',
      '--constraint=haswell',
      '--cpus-per-task=1',
    ]);
  });

  it('sets a time limit a minute past a node timeout when no wall time is given', () => {
    expect(resourceDirectives(resources(), {}, 90)).toContain('--time=00:03:00');
    expect(resourceDirectives(resources({ wallTime: '10m' }), {}, 90)).toContain('--time=00:10:00');
  });
});

describe('formatting', () => {
  it('formats Slurm time limits', () => {
    expect(formatSlurmTime(60)).toBe('00:01:00');
    expect(formatSlurmTime(3599.2)).toBe('01:00:00');
    expect(formatSlurmTime(86_400 * 2 + 61)).toBe('2-00:01:01');
  });
  it('builds array ranges with an optional throttle', () => {
    expect(arrayDirective(100)).toBe('--array=0-99');
    expect(arrayDirective(100, 8)).toBe('--array=0-99%8');
    expect(arrayDirective(1)).toBe('--array=0');
  });
  it('makes job names Slurm shows unchanged', () => {
    expect(jobName('phys', 'optics/propagate beam')).toBe('phys-optics_propagate_beam');
  });
  it('escapes % in paths handed to --output', () => {
    expect(literalSlurmPath('/work/run%2Fa')).toBe('/work/run%%2Fa');
  });
});

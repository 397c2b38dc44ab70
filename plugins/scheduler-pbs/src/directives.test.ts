import { resources } from '@phys/core';
import { describe, expect, it } from 'vitest';
import {
  formatMemory,
  formatWalltime,
  jobName,
  parsePbsSize,
  parseWalltime,
  pbsDirectives,
  selectStatement,
  shellQuote,
} from './directives.js';

describe('PBS directives', () => {
  it('formats and parses walltimes', () => {
    expect(formatWalltime(1)).toBe('00:00:01');
    expect(formatWalltime(0.2)).toBe('00:00:01');
    expect(formatWalltime(3661.5)).toBe('01:01:02');
    expect(formatWalltime(120 * 3600)).toBe('120:00:00');
    expect(parseWalltime('01:01:02')).toBe(3662);
    expect(parseWalltime('05:00')).toBe(300);
    expect(parseWalltime('90')).toBe(90);
    expect(parseWalltime('1:x')).toBeUndefined();
  });

  it('formats memory in the largest exact unit and parses PBS sizes', () => {
    expect(formatMemory(8 * 2 ** 30)).toBe('8gb');
    expect(formatMemory(512 * 2 ** 20)).toBe('512mb');
    expect(formatMemory(1.5 * 2 ** 30)).toBe('1536mb');
    expect(formatMemory(1000)).toBe('1kb');
    expect(parsePbsSize('8gb')).toBe(8 * 2 ** 30);
    expect(parsePbsSize('10240KB')).toBe(10240 * 1024);
    expect(parsePbsSize('100')).toBe(100);
    expect(parsePbsSize('2w')).toBe(16);
    expect(parsePbsSize('lots')).toBeUndefined();
  });

  it('puts the whole task in one select chunk', () => {
    expect(selectStatement(resources())).toBe('1:ncpus=1');
    expect(selectStatement(resources({ cpu: 4, memory: '8Gi', gpu: 2 }))).toBe(
      '1:ncpus=4:mem=8gb:ngpus=2',
    );
    // Every MPI rank takes `cpu` cores; fractional cpu rounds up to whole cores.
    expect(selectStatement(resources({ cpu: 2, mpiRanks: 4 }))).toBe('1:ncpus=8:mpiprocs=4');
    expect(selectStatement(resources({ cpu: '500m' }))).toBe('1:ncpus=1');
  });

  it('writes the #PBS header in qsub order', () => {
    expect(
      pbsDirectives({
        name: 'phys-fit',
        req: resources({ cpu: 2, memory: '4Gi' }),
        walltimeSeconds: 600,
        queue: 'gpu',
        account: 'proj1',
        project: 'p2',
        arraySize: 10,
        afterOk: ['12.pbs01', '13[].pbs01'],
        outputPath: '/w/b1.^array_index^.out',
        errorPath: '/w/b1.^array_index^.err',
        extra: ['-l place=scatter'],
      }),
    ).toEqual([
      '#PBS -N phys-fit',
      '#PBS -l select=1:ncpus=2:mem=4gb',
      '#PBS -l walltime=00:10:00',
      '#PBS -q gpu',
      '#PBS -A proj1',
      '#PBS -P p2',
      '#PBS -J 0-9',
      '#PBS -W depend=afterok:12.pbs01:13[].pbs01',
      '#PBS -o /w/b1.^array_index^.out',
      '#PBS -e /w/b1.^array_index^.err',
      '#PBS -l place=scatter',
    ]);
  });

  it('makes job names PBS accepts and quotes shell words', () => {
    expect(jobName('phys', 'fit a/b')).toBe('phys-fit_a_b');
    expect(jobName('phys', 'x'.repeat(100))).toHaveLength(63);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

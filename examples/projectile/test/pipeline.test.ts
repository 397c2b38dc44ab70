// End to end: the example's own phys.config.ts through the real loader, registry, executor and CLI.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPhys } from '@phys/cli/testing';
import type { ArtifactRef } from '@phys/core';
import { createRuntime, FileArtifactRecorder, loadConfig, type PhysRuntime } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDARD_GRAVITY } from '../src/stages.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const speed = 45;
const theta = (35 * Math.PI) / 180;
const phys = (argv: readonly string[]) => runPhys(argv, { cwd: exampleDir });

let runtime: PhysRuntime;

beforeAll(async () => {
  const loaded = await loadConfig({ cwd: join(exampleDir, 'src') });
  expect(loaded.filepath).toBe(join(exampleDir, 'phys.config.ts'));
  runtime = await createRuntime(loaded);
});

afterAll(async () => {
  await runtime?.dispose();
});

describe('phys.config.ts of the example', () => {
  it('registers the four stages and three pipelines', () => {
    expect(
      runtime.stages
        .list()
        .map((d) => `${d.stageName}@${d.version}`)
        .sort(),
    ).toEqual([
      'projectile/analyze@1',
      'projectile/collect@1',
      'projectile/integrate@1',
      'projectile/launch@1',
    ]);
    expect(Object.keys(runtime.pipelines).sort()).toEqual([
      'projectile',
      'projectile-sweep',
      'projectile-vacuum',
    ]);
  });

  it('rebuilds a stage from its identity (name, version, config JSON)', () => {
    const declared = runtime.pipeline('projectile');
    if (declared.kind === 'dag') throw new Error('expected a sequential pipeline');
    const integrate = declared.stages[1]!;
    const json = JSON.parse(JSON.stringify(integrate.ref));
    const rebuilt = runtime.stages.rebuild(json);
    expect(rebuilt.configHash).toBe(integrate.configHash);
    expect(rebuilt.config).toEqual(integrate.config);
  });
});

describe('the sequential pipeline', () => {
  it('in vacuum reproduces the closed-form range, flight time, apex and impact speed', async () => {
    const { metrics } = await runtime.runPipeline('projectile-vacuum');
    const g = STANDARD_GRAVITY;
    const rel = (a: number | undefined, b: number) => Math.abs(a! - b) / b;
    expect(
      rel(metrics['projectile-vacuum.analyze.range'], (speed ** 2 * Math.sin(2 * theta)) / g),
    ).toBeLessThan(1e-6);
    expect(
      rel(metrics['projectile-vacuum.analyze.flightTime'], (2 * speed * Math.sin(theta)) / g),
    ).toBeLessThan(1e-6);
    expect(
      rel(
        metrics['projectile-vacuum.analyze.apexHeight'],
        (speed * Math.sin(theta)) ** 2 / (2 * g),
      ),
    ).toBeLessThan(1e-9);
    expect(rel(metrics['projectile-vacuum.analyze.impactSpeed'], speed)).toBeLessThan(1e-6);
    expect(metrics['projectile-vacuum.integrate.energyDrift']).toBeLessThan(1e-12);
    // The impact point is interpolated on a chord, so its energy is off by about m·g·dt²·g/8.
    expect(Math.abs(metrics['projectile-vacuum.integrate.energyLoss']!)).toBeLessThan(1e-8);
  });

  it('with drag flies shorter, loses energy, and records provenance per stage', async () => {
    const air = await runtime.runPipeline('projectile');
    const vacuum = await runtime.runPipeline('projectile-vacuum');
    const range = air.metrics['projectile.analyze.range']!;
    expect(range).toBeLessThan(0.75 * vacuum.metrics['projectile-vacuum.analyze.range']!);
    expect(range).toBeGreaterThan(100);
    expect(air.metrics['projectile.integrate.energyLoss']).toBeGreaterThan(0.3);
    expect(air.provenance.stages.map((s) => s.stage)).toEqual(['launch', 'integrate', 'analyze']);
    expect(air.provenance.stages[1]).toMatchObject({
      version: '1',
      configHash: expect.any(String),
    });
    // Not recording: the lazy trajectory was never built.
    expect(air.artifacts['projectile.analyze.trajectory']).toEqual({ lazy: true, recorded: false });
  });

  describe('when recording artifacts', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'phys-projectile-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes the trajectory CSV, which starts at the launch point and ends on the ground', async () => {
      const result = await runtime.runPipeline('projectile', {
        recordArtifacts: true,
        recorder: new FileArtifactRecorder(dir),
      });
      const ref = result.artifacts['projectile.analyze.trajectory'] as ArtifactRef;
      expect(ref.mediaType).toBe('text/plain');
      const lines = (await readFile(ref.path, 'utf8')).trim().split('\n');
      expect(lines[0]).toBe('t,x,y,vx,vy');
      expect(lines[1]!.split(',').slice(0, 3).map(Number)).toEqual([0, 0, 0]);
      const last = lines.at(-1)!.split(',').map(Number);
      expect(last[2]).toBe(0);
      expect(last[1]).toBeCloseTo(result.metrics['projectile.analyze.range']!, 9);
    });
  });
});

// The sweep runs its integrations in worker threads, which load phys.config.ts on their own. A
// worker started inside the test runner would inherit its module hooks (which map packages to
// TypeScript sources), so this part runs where users run it: the built `phys` binary.
describe('the DAG sweep over launch angles, through `phys run`', () => {
  it('fans out, collects, and finds the angle of longest range below 45° with drag', async () => {
    const { code, stdout } = await phys(['run', 'projectile-sweep', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      pipeline: 'projectile-sweep',
      kind: 'dag',
      status: 'COMPLETED',
    });
    const declared = runtime.pipeline('projectile-sweep');
    if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
    expect(Object.keys(report.nodes).sort()).toEqual(declared.nodes.map((n) => n.id).sort());
    expect(report.counts).toEqual({ COMPLETED: declared.nodes.length });

    const metrics = report.metrics as Record<string, number>;
    const best = metrics['collect.bestAngleDeg']!;
    expect(best).toBeLessThan(45);
    expect(best).toBeGreaterThanOrEqual(30);
    expect(metrics['collect.refinedAngleDeg']).toBeLessThan(45);
    expect(metrics['collect.flights']).toBe(9);
    // Every angle's range is there, the best one is the largest, and each equals what the
    // sequential pipeline computes for the same angle (same stages, same configs).
    const ranges = Object.entries(metrics).filter(([k]) => /^analyze-\d+\.range$/.test(k));
    expect(ranges).toHaveLength(9);
    expect(metrics['collect.bestRange']).toBe(Math.max(...ranges.map(([, v]) => v)));
    expect(metrics[`analyze-${best}.range`]).toBe(metrics['collect.bestRange']);
    const sequential = await runtime.runPipeline('projectile');
    expect(metrics['analyze-35.range']).toBe(sequential.metrics['projectile.analyze.range']);
  });

  it('the sequential pipeline prints a readable summary', async () => {
    const { code, stdout } = await phys(['run', 'projectile']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^✓ projectile: COMPLETED in .+ \(sequential, 3 stages\)$/m);
    expect(stdout).toMatch(/^\s+projectile\.analyze\.range\s+\d+\.\d+$/m);
  });
});

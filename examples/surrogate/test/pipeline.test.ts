// End to end: the example's own phys.config.ts through the real loader, registry, sweep
// (Latin hypercube), the executor plugin, and the ml-packager plugin; then the package is
// verified, loaded back and used.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPhys } from '@phys/cli/testing';
import { type ExecuteResult, ExecutorToken, type PhysConfig } from '@phys/core';
import mlPackager, {
  loadPackage,
  ModelArtifactPackager,
  type ModelManifest,
} from '@phys/ml-packager';
import { createRuntime, loadConfig, type PhysRuntime } from '@phys/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fly } from '../src/flight.js';
import { type PolynomialSurrogate, predict } from '../src/model.js';
import { SURROGATE } from '../src/pipeline.js';
import type { SurrogateState } from '../src/stages.js';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const launch = { speed: 40, mass: 0.145, g: 9.80665, dt: 1e-3 };
let runtime: PhysRuntime;
let models: string;
let result: ExecuteResult;
let packagePath: string;

beforeAll(async () => {
  models = await mkdtemp(join(tmpdir(), 'phys-surrogate-models-'));
  const loaded = await loadConfig({ cwd: exampleDir });
  expect(loaded.filepath).toBe(join(exampleDir, 'phys.config.ts'));
  // The config as written, with the packages sent to a temporary directory.
  const written = loaded.config.plugins ?? [];
  const isPackager = (entry: (typeof written)[number]) =>
    typeof entry === 'object' &&
    entry !== null &&
    (Array.isArray(entry) ? entry[0] : (entry as { name: string }).name) === 'ml-packager';
  expect(written.filter(isPackager)).toHaveLength(1);
  const plugins: PhysConfig['plugins'] = written.map((entry) =>
    isPackager(entry) ? mlPackager({ root: models }) : entry,
  );
  runtime = await createRuntime({ ...loaded, config: { ...loaded.config, plugins } });
  const declared = runtime.pipeline('surrogate');
  if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
  result = await runtime.resolve(ExecutorToken).execute({
    pipeline: 'surrogate',
    nodes: declared.nodes,
    initialState: declared.initialState,
    container: runtime.container,
  });
  const provenance = (
    result as { provenance?: { modelPackages?: { nodeId: string; path?: string }[] } }
  ).provenance;
  const pkg = provenance?.modelPackages?.find((p) => p.nodeId === 'fit');
  packagePath = pkg?.path as string;
});

afterAll(async () => {
  await runtime?.dispose();
  if (models !== undefined) await rm(models, { recursive: true, force: true });
});

describe('the surrogate pipeline', () => {
  it('runs 120 flights on a Latin hypercube and fits them', () => {
    expect(result.status).toBe('COMPLETED');
    const flights = Object.keys(result.nodes).filter((id) => id.startsWith('flight['));
    expect(flights).toHaveLength(SURROGATE.samples);
    // Latin hypercube: every one of the 120 angle strata of [15°, 75°] holds exactly one flight.
    const declared = runtime.pipeline('surrogate');
    if (declared.kind !== 'dag') throw new Error('expected a DAG pipeline');
    const strata = declared.nodes
      .filter((n) => n.id.startsWith('flight['))
      .map((n) => Math.floor(((n.stage.config as { angleDeg: number }).angleDeg - 15) / 0.5));
    expect(new Set(strata).size).toBe(SURROGATE.samples);
    expect(result.metrics['fit.trainPoints']).toBe(96);
    expect(result.metrics['fit.holdoutPoints']).toBe(24);
  });

  it('predicts ranges it was not trained on to a fraction of a percent', () => {
    expect(result.metrics['fit.holdoutRelRms']).toBeLessThan(2e-3);
    expect(result.metrics['fit.holdoutRelMax']).toBeLessThan(5e-3);
    const state = result.outputs.fit as SurrogateState;
    // And at fresh points, against new simulations.
    for (const [angle, k] of [
      [33.3, 0.00042],
      [61.7, 0.0017],
      [45, 0],
    ] as const) {
      const simulated = fly(angle, k, launch).range;
      expect(Math.abs(predict(state.model, [angle, k]) - simulated) / simulated).toBeLessThan(5e-3);
    }
  });

  it('has learnt the physics: with drag the longest range is below 45°', () => {
    const { model } = result.outputs.fit as SurrogateState;
    const best = (k: number) => {
      let arg = 15;
      for (let a = 15; a <= 75; a += 0.1)
        if (predict(model, [a, k]) > predict(model, [arg, k])) arg = a;
      return arg;
    };
    expect(Math.abs(best(0) - 45)).toBeLessThan(0.5);
    expect(best(0.002)).toBeLessThan(42);
  });
});

describe('the model package written by the ml-packager plugin', () => {
  it('is listed in the run provenance and verifies intact, directory and archive', async () => {
    expect(packagePath).toMatch(new RegExp(`^${models}/fit/[0-9a-f]{16}$`));
    const packager = new ModelArtifactPackager({ root: models });
    const report = await packager.verify(packagePath);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect((await packager.verify(`${packagePath}.tar.gz`)).ok).toBe(true);
  });

  it('records what made the model: stage, config, metrics and the flights upstream', async () => {
    const { manifest } = await loadPackage(packagePath);
    expect(manifest.stage).toMatchObject({ name: 'surrogate/fit', version: '1' });
    expect(manifest.config).toMatchObject({ degree: 7, transform: 'log' });
    expect(manifest.metrics.holdoutRelRms).toBe(result.metrics['fit.holdoutRelRms']);
    const lineage = (manifest as ModelManifest).provenance.lineage.map((l) => l.nodeId);
    expect(lineage.filter((id) => id.startsWith('flight['))).toHaveLength(SURROGATE.samples);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(
      ['README.md', 'files/model.json', 'state.bin'].sort(),
    );
  });

  it('loads back and predicts bit for bit what the run predicted, from state.bin and model.json', async () => {
    const loaded = await loadPackage(`${packagePath}.tar.gz`, { state: true });
    try {
      const fromState = (loaded.state as SurrogateState).model;
      const fromJson = JSON.parse(
        await readFile(loaded.files['files/model.json'] as string, 'utf8'),
      ) as PolynomialSurrogate;
      const { holdout } = result.outputs.fit as SurrogateState;
      holdout.inputs.forEach((x, i) => {
        expect(predict(fromState, x)).toBe(holdout.predictions[i]);
        expect(predict(fromJson, x)).toBe(holdout.predictions[i]);
      });
    } finally {
      await rm(loaded.path, { recursive: true, force: true });
    }
  });

  it('fails verification once a model file is edited', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'phys-surrogate-tampered-'));
    try {
      await cp(packagePath, copy, { recursive: true });
      const file = join(copy, 'files', 'model.json');
      const model = JSON.parse(await readFile(file, 'utf8')) as { coefficients: number[] };
      model.coefficients[0]! *= 1.001;
      await writeFile(file, JSON.stringify(model));
      const report = await new ModelArtifactPackager({ root: models }).verify(copy);
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'changed', path: 'files/model.json' }),
      ]);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it('passes `phys package verify`', async () => {
    const { code, stderr } = await runPhys(['package', 'verify', packagePath], {
      cwd: exampleDir,
    });
    expect(code, stderr).toBe(0);
  });
});

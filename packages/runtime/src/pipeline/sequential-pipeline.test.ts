import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactRef, Logger, PipelineHook } from '@phys/core';
import {
  CancelledError,
  ConfigError,
  defineStage,
  PhysError,
  PolicyBag,
  type StageContext,
  StageContractError,
  StageExecutionError,
} from '@phys/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { FileArtifactRecorder } from '../file-artifact-recorder.js';
import { SequentialPipeline } from './sequential-pipeline.js';

interface Payload {
  readonly payload: number;
}

const Add = defineStage({
  name: 'demo/add',
  config: z.object({ amount: z.number() }),
  process: (state: Payload, ctx) => ({
    state: { ...state, payload: state.payload + ctx.config.amount },
    metrics: { added: ctx.config.amount },
  }),
});

const Times = defineStage({
  name: 'demo/times',
  config: z.object({ factor: z.number() }),
  process: (state: Payload, ctx) => ({ state: { payload: state.payload * ctx.config.factor } }),
});

/** Reads `sampling.N` from the policy (config default 4) into the state. */
const Sample = defineStage({
  name: 'demo/sample',
  config: z.object({ N: z.number().default(4) }),
  process: (_state: unknown, ctx) => ({
    state: { N: ctx.policy.get('sampling.N', ctx.config.N), seed: ctx.policy.get('seed') },
    metrics: { N: ctx.policy.get<number>('sampling.N', ctx.config.N) ?? 0 },
  }),
});

/** Emits whatever metric value it is configured with (to test the scalar contract). */
function metricStage(value: unknown) {
  return defineStage({
    name: 'demo/metric',
    config: z.object({}),
    process: (state: unknown) => ({ state, metrics: { bad: value as number } }),
  })();
}

/** A hook that records the calls it gets, in order. */
function recordingHook(calls: string[], name = 'rec'): PipelineHook {
  return {
    name,
    onPipelineStart: (e) => void calls.push(`${name}:start:${e.pipeline}`),
    onStepStart: (e) => void calls.push(`${name}:stepStart:${e.step}`),
    onStepEnd: (e) => void calls.push(`${name}:stepEnd:${e.step}:${e.status}`),
    onError: (e) => void calls.push(`${name}:error:${e.step ?? '-'}:${e.error.name}`),
    onPipelineEnd: (e) => void calls.push(`${name}:end:${e.status}`),
  };
}

/** A logger that keeps its lines, to see what a run reported. */
function memoryLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: (m) => void lines.push(`debug ${m}`),
    info: (m) => void lines.push(`info ${m}`),
    warn: (m) => void lines.push(`warn ${m}`),
    error: (m) => void lines.push(`error ${m}`),
    child: () => logger,
  };
  return logger;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the run to fail');
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-seq-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sha256Of(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

describe('SequentialPipeline (v1 semantics)', () => {
  it('runs an unnamed pipeline: one ×3 stage, payload 2 → 6', async () => {
    const pipe = new SequentialPipeline([Times({ factor: 3 })]);
    expect(pipe.name).toBe('');
    const result = await pipe.run({ payload: 2 });
    expect(result.state).toEqual({ payload: 6 });
  });

  it('feeds each stage the previous state and namespaces metrics as pipeline.stage.metric', async () => {
    const pipe = new SequentialPipeline(
      [Add({ amount: 1 }, { label: 'first' }), Add({ amount: 10 }, { label: 'second' })],
      { name: 'demo' },
    );
    const result = await pipe.run({ payload: 0 });
    expect(result.state).toEqual({ payload: 11 });
    expect(result.metrics).toEqual({ 'demo.first.added': 1, 'demo.second.added': 10 });
  });

  it('keeps dots inside metric keys', async () => {
    const Fit = defineStage({
      name: 'fit',
      config: z.object({}),
      process: (state: unknown) => ({ state, metrics: { 'phase.fit.GDD': 2 } }),
    });
    const result = await new SequentialPipeline([Fit()], { name: 'demo' }).run(null);
    expect(result.metrics).toEqual({ 'demo.fit.phase.fit.GDD': 2 });
  });

  it('returns the initial state itself when there are no stages', async () => {
    const state = { payload: 1 };
    const result = await new SequentialPipeline([]).run(state);
    expect(result.state).toBe(state);
    expect(result.provenance.stages).toEqual([]);
  });

  it('refuses two stages with one label, since their metrics would overwrite each other', () => {
    try {
      new SequentialPipeline([Add({ amount: 1 }), Times({ factor: 2 }), Add({ amount: 2 })], {
        name: 'demo',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toEqual([
        {
          path: 'stages[2]',
          message: expect.stringContaining("label 'demo/add' is already used by stages[0]"),
        },
      ]);
      expect((error as ConfigError).message).toContain("Pipeline 'demo'");
    }
    expect(
      () => new SequentialPipeline([Add({ amount: 1 }), Add({ amount: 2 }, { label: 'again' })]),
    ).not.toThrow();
  });

  it('gives each stage its context: frozen config, run and node ids, first attempt, one cpu', async () => {
    let seen: StageContext | undefined;
    const Probe = defineStage({
      name: 'demo/probe',
      config: z.object({ grid: z.object({ nx: z.number() }) }),
      process: (state: unknown, ctx) => {
        seen = ctx as StageContext;
        return { state };
      },
    });
    const result = await new SequentialPipeline([Probe({ grid: { nx: 4 } }, { label: 'p' })]).run(
      null,
      { runId: 'run-42' },
    );
    expect(result.runId).toBe('run-42');
    expect(seen?.runId).toBe('run-42');
    expect(seen?.nodeId).toBe('p');
    expect(seen?.attempt).toBe(1);
    expect(seen?.resources).toEqual({ cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined });
    const grid = (seen?.config as { grid: object } | undefined)?.grid;
    expect(grid).toEqual({ nx: 4 });
    expect(Object.isFrozen(grid)).toBe(true);
    expect(seen?.signal.aborted).toBe(false);
    expect(seen?.artifacts.recording).toBe(false);
  });
});

describe('provenance', () => {
  it('records per stage the label, config hash, policy hash, version and wall time', async () => {
    const VersionedAdd = defineStage({
      name: 'demo/add-v3',
      version: '3',
      config: z.object({ amount: z.number() }),
      process: (state: Payload, ctx) => ({ state: { payload: state.payload + ctx.config.amount } }),
    });
    const one = Add({ amount: 1 }, { label: 'one' });
    const two = VersionedAdd({ amount: 2 }, { label: 'two' });
    const policy = new PolicyBag({ 'sampling.N': 8 });
    const result = await new SequentialPipeline([one, two], { name: 'demo' }).run(
      { payload: 0 },
      { policy },
    );
    const { stages } = result.provenance;
    expect(stages.map((s) => s.stage)).toEqual(['one', 'two']);
    expect(stages[0]?.configHash).toBe(one.configHash);
    expect(stages[1]?.configHash).toBe(two.configHash);
    expect(stages[0]?.version).toBe('1');
    expect(stages[1]?.version).toBe('3');
    for (const stage of stages) {
      expect(stage.wallTimeSeconds).toBeTypeOf('number');
      expect(stage.wallTimeSeconds as number).toBeGreaterThanOrEqual(0);
      expect(stage.policyHash).toBe(policy.hash());
    }
    expect(result.provenance.policyHash).toBe(policy.hash());
  });

  it('lets a stage add provenance keys and override the framework ones', async () => {
    const Custom = defineStage({
      name: 'demo/custom',
      config: z.object({}),
      process: (state: unknown) => ({
        state,
        provenance: { solver: 'rk4', version: 'git-abc123' },
      }),
    });
    const result = await new SequentialPipeline([Custom()]).run(null);
    expect(result.provenance.stages[0]).toMatchObject({
      solver: 'rk4',
      version: 'git-abc123',
      stage: 'demo/custom',
    });
  });
});

describe('policy', () => {
  it('gives the stage the run policy over the config default', async () => {
    const policy = { 'sampling.N': 8 };
    const result = await new SequentialPipeline([Sample()]).run(null, { policy });
    expect(result.state).toEqual({ N: 8, seed: undefined });
    expect(result.provenance.policyHash).toBe(new PolicyBag(policy).hash());
    expect(result.provenance.stages[0]?.policyHash).toBe(result.provenance.policyHash);
  });

  it('uses the pipeline default policy when the run has none', async () => {
    const pipe = new SequentialPipeline([Sample()], { policy: { 'sampling.N': 10 } });
    const result = await pipe.run(null);
    expect(result.state).toMatchObject({ N: 10 });
    expect(result.provenance.policyHash).toBe(new PolicyBag({ 'sampling.N': 10 }).hash());
  });

  it('lets the run policy replace the default entirely (no merging)', async () => {
    const defaults = new PolicyBag({ 'sampling.N': 10, seed: 1 });
    const pipe = new SequentialPipeline([Sample()], { policy: defaults });
    const run = new PolicyBag({ 'sampling.N': 6 });
    const result = await pipe.run(null, { policy: run });
    expect(result.state).toEqual({ N: 6, seed: undefined });
    expect(result.provenance.policyHash).toBe(run.hash());
    expect(result.provenance.policyHash).not.toBe(defaults.hash());
  });

  it('setPolicy replaces the default', async () => {
    const pipe = new SequentialPipeline([Sample()], { policy: { 'sampling.N': 10 } });
    pipe.setPolicy({ 'sampling.N': 12 });
    expect((await pipe.run(null)).state).toMatchObject({ N: 12 });
    pipe.setPolicy(undefined);
    expect((await pipe.run(null)).state).toMatchObject({ N: 4 });
  });

  it('treats no policy as the empty policy: same hash, recorded the same way', async () => {
    const pipe = new SequentialPipeline([Sample()]);
    const none = await pipe.run(null);
    const empty = await pipe.run(null, { policy: {} });
    expect(none.state).toMatchObject({ N: 4 });
    expect(none.provenance.policyHash).toBe(PolicyBag.empty.hash());
    expect(empty.provenance.policyHash).toBe(none.provenance.policyHash);
    expect(none.provenance.stages[0]?.policyHash).toBe(PolicyBag.empty.hash());
  });
});

describe('metric contract', () => {
  it.each([
    ['an array', [1, 2, 3], 'Array'],
    ['a typed array', new Float64Array([1]), 'Float64Array'],
    ['NaN', Number.NaN, 'NaN'],
    ['Infinity', Number.POSITIVE_INFINITY, 'Infinity'],
    ['a string', '1.5', '1.5'],
    ['null', null, 'null'],
  ])('rejects %s as a metric with a StageContractError', async (_what, value, shown) => {
    const error = await rejection(
      new SequentialPipeline([metricStage(value)], { name: 'demo' }).run(null),
    );
    expect(error).toBeInstanceOf(StageContractError);
    expect(error.message).toMatch(/must be a scalar/);
    expect(error.message).toContain("Metric 'bad' of stage 'demo/metric'");
    expect(error.message).toContain(`got ${shown}`);
  });

  it('accepts booleans and bigints as numbers', async () => {
    const Flags = defineStage({
      name: 'demo/flags',
      config: z.object({}),
      process: (state: unknown) => ({
        state,
        metrics: { converged: true as unknown as number, steps: 7n as unknown as number },
      }),
    });
    const result = await new SequentialPipeline([Flags()]).run(null);
    expect(result.metrics).toEqual({ 'demo/flags.converged': 1, 'demo/flags.steps': 7 });
  });
});

describe('pipeline as a stage', () => {
  it('runs an inner pipeline as one stage: inner +2, then +3, from 1 → 6', async () => {
    const inner = new SequentialPipeline([Add({ amount: 2 }, { label: 'inc' })], { name: 'inner' });
    const outer = new SequentialPipeline([inner.asStage('wrap'), Add({ amount: 3 })], {
      name: 'outer',
    });
    const result = await outer.run({ payload: 1 });
    expect(result.state).toEqual({ payload: 6 });
    expect(result.metrics).toEqual({
      'outer.wrap.inner.inc.added': 2,
      'outer.demo/add.added': 3,
    });
  });

  it('labels the wrapper with its name and keeps the inner provenance under it', async () => {
    const inner = new SequentialPipeline([Add({ amount: 2 }, { label: 'inc' })], { name: 'inner' });
    const wrapper = inner.asStage('wrap');
    expect(wrapper.label).toBe('wrap');
    const result = await new SequentialPipeline([wrapper], { name: 'outer' }).run({ payload: 0 });
    const entry = result.provenance.stages[0] ?? { stage: '' };
    expect(entry.stage).toBe('wrap');
    expect(entry.configHash).toBe(wrapper.configHash);
    expect((entry.stages as { stage: string }[]).map((s) => s.stage)).toEqual(['inc']);
  });

  it('gives the wrapper a config hash that changes with the inner configs', () => {
    const a = new SequentialPipeline([Add({ amount: 2 })]).asStage('wrap');
    const b = new SequentialPipeline([Add({ amount: 3 })]).asStage('wrap');
    const a2 = new SequentialPipeline([Add({ amount: 2 })]).asStage('wrap');
    expect(a.configHash).not.toBe(b.configHash);
    expect(a.configHash).toBe(a2.configHash);
  });

  it('passes a custom class state through unchanged', async () => {
    class Beam {
      constructor(
        readonly payload: number,
        readonly wavelength: number,
      ) {}
    }
    const Shift = defineStage({
      name: 'demo/shift',
      config: z.object({ by: z.number() }),
      process: (state: Beam, ctx) => ({
        state: new Beam(state.payload + ctx.config.by, state.wavelength),
      }),
    });
    const inner = new SequentialPipeline([Shift({ by: 5 })], { name: 'inner' });
    const result = await new SequentialPipeline([inner.asStage('wrap')]).run(new Beam(2, 800e-9));
    expect(result.state).toBeInstanceOf(Beam);
    expect(result.state).toEqual(new Beam(7, 800e-9));
  });

  it('passes the run policy to the inner stages, or lets the inner default apply when there is none', async () => {
    const inner = new SequentialPipeline([Sample()], { policy: { 'sampling.N': 10 } });
    const outer = new SequentialPipeline([inner.asStage('wrap')]);
    expect((await outer.run(null)).state).toMatchObject({ N: 10 });
    expect((await outer.run(null, { policy: { 'sampling.N': 6 } })).state).toMatchObject({ N: 6 });
  });

  it('records a lazy artifact of a nested pipeline when recording is on', async () => {
    let calls = 0;
    const Plot = defineStage({
      name: 'demo/plot',
      config: z.object({}),
      process: (state: unknown) => ({
        state,
        artifacts: {
          figure: () => {
            calls++;
            return '<svg>inner</svg>';
          },
        },
      }),
    });
    const inner = new SequentialPipeline([Plot({}, { label: 'plot' })], { name: 'inner' });
    const outer = new SequentialPipeline([inner.asStage('wrap')], { name: 'outer' });

    const recorded = await outer.run(null, {
      recordArtifacts: true,
      recorder: new FileArtifactRecorder(dir),
    });
    expect(calls).toBe(1);
    const ref = recorded.artifacts['outer.wrap.inner.plot.figure'] as ArtifactRef;
    expect(ref.path.startsWith(dir)).toBe(true);
    expect(await readFile(ref.path, 'utf8')).toBe('<svg>inner</svg>');
    expect(ref.sha256).toBe(await sha256Of(ref.path));

    const off = await outer.run(null);
    expect(calls).toBe(1);
    expect(off.artifacts['outer.wrap.inner.plot.figure']).toEqual({ lazy: true, recorded: false });
  });

  it('records through the artifact writer when another runner executes the wrapper', async () => {
    const Dump = defineStage({
      name: 'demo/dump',
      config: z.object({}),
      process: (state: unknown) => ({ state, artifacts: { table: () => ({ rows: 3 }) } }),
    });
    const wrapper = new SequentialPipeline([Dump({}, { label: 'dump' })], {
      name: 'inner',
    }).asStage('wrap');
    const recorder = new FileArtifactRecorder(dir);
    const written: string[] = [];
    // What a DAG executor hands a node: a writer, without the sequential pipeline's internals.
    const ctx: StageContext<typeof wrapper.config> = {
      config: wrapper.config,
      policy: PolicyBag.empty,
      signal: new AbortController().signal,
      logger: memoryLogger([]),
      resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
      artifacts: {
        recording: true,
        write: async (name, data) => {
          written.push(name);
          return recorder.record(`node7.${name}`, typeof data === 'function' ? await data() : data);
        },
      },
      runId: 'r',
      nodeId: 'node7',
      attempt: 1,
    };
    const result = await wrapper.process(null, ctx);
    expect(written).toEqual(['inner.dump.table']);
    const ref = result.artifacts?.['inner.dump.table'] as unknown as ArtifactRef;
    expect(JSON.parse(await readFile(ref.path, 'utf8'))).toEqual({ rows: 3 });
  });
});

describe('artifacts', () => {
  const Emit = defineStage({
    name: 'artifact',
    config: z.object({}),
    process: (state: unknown) => ({
      state,
      artifacts: {
        payload: new Float64Array(4096).map((_, i) => i),
        small: new Float64Array([1, 2, 3]),
        note: 'converged',
        count: 3,
      },
    }),
  });

  it('keeps small artifacts inline and previews large arrays when recording is off', async () => {
    const result = await new SequentialPipeline([Emit()], { name: 'demo' }).run(null);
    const preview = result.artifacts['demo.artifact.payload'] as {
      shape: number[];
      dtype: string;
      head: number[];
    };
    expect(preview.shape).toEqual([4096]);
    expect(preview.dtype).toBe('Float64Array');
    expect(preview.head).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(result.artifacts['demo.artifact.small']).toEqual(new Float64Array([1, 2, 3]));
    expect(result.artifacts['demo.artifact.note']).toBe('converged');
    expect(result.artifacts['demo.artifact.count']).toBe(3);
  });

  it('writes artifacts to disk when recording is on', async () => {
    const result = await new SequentialPipeline([Emit()], { name: 'demo' }).run(null, {
      recordArtifacts: true,
      recorder: new FileArtifactRecorder(dir),
    });
    const ref = result.artifacts['demo.artifact.payload'] as ArtifactRef;
    expect(ref.bytes).toBe(4096 * 8);
    expect(ref.sha256).toBe(await sha256Of(ref.path));
    const bytes = await readFile(ref.path);
    expect(new Float64Array(bytes.buffer, bytes.byteOffset, 4096)[4095]).toBe(4095);
    expect(
      await readFile((result.artifacts['demo.artifact.note'] as ArtifactRef).path, 'utf8'),
    ).toBe('converged');
    expect(result.artifacts['demo.artifact.count']).toBe(3);
  });

  it('does not record without a recorder, even when asked to', async () => {
    const result = await new SequentialPipeline([Emit()], { name: 'demo' }).run(null, {
      recordArtifacts: true,
    });
    expect((result.artifacts['demo.artifact.payload'] as { shape: number[] }).shape).toEqual([
      4096,
    ]);
  });

  it('lets a stage write artifacts through ctx.artifacts only when recording', async () => {
    let evaluated = 0;
    const refs: (ArtifactRef | undefined)[] = [];
    const Writer = defineStage({
      name: 'writer',
      config: z.object({}),
      process: async (state: unknown, ctx) => {
        refs.push(
          await ctx.artifacts.write('log', () => {
            evaluated++;
            return 'step 1 ok';
          }),
        );
        return { state };
      },
    });
    const pipe = new SequentialPipeline([Writer()], { name: 'demo' });
    await pipe.run(null);
    expect(refs).toEqual([undefined]);
    expect(evaluated).toBe(0);
    const result = await pipe.run(null, {
      recordArtifacts: true,
      recorder: new FileArtifactRecorder(dir),
    });
    expect(evaluated).toBe(1);
    const ref = result.artifacts['demo.writer.log'] as ArtifactRef;
    expect(ref).toEqual(refs[1]);
    expect(await readFile(ref.path, 'utf8')).toBe('step 1 ok');
  });
});

describe('failures', () => {
  const Boom = defineStage({
    name: 'demo/boom',
    config: z.object({}),
    process: (): never => {
      throw new RangeError('grid too coarse');
    },
  });

  it('wraps a stage exception in a StageExecutionError naming the stage, with the original as cause', async () => {
    const error = await rejection(
      new SequentialPipeline([Add({ amount: 1 }), Boom({}, { label: 'solve' })]).run({
        payload: 0,
      }),
    );
    expect(error).toBeInstanceOf(StageExecutionError);
    expect((error as StageExecutionError).stage).toBe('solve');
    expect((error as StageExecutionError).code).toBe('PHYS_STAGE_FAILED');
    expect(error.message).toBe("Stage 'solve' failed: grid too coarse");
    expect(error.cause).toBeInstanceOf(RangeError);
  });

  it('wraps async rejections and thrown non-errors too', async () => {
    const Reject = defineStage({
      name: 'demo/reject',
      config: z.object({}),
      process: async (): Promise<never> => {
        throw 'out of memory';
      },
    });
    const error = await rejection(new SequentialPipeline([Reject()]).run(null));
    expect(error).toBeInstanceOf(StageExecutionError);
    expect(error.message).toContain('out of memory');
    expect(error.cause).toBe('out of memory');
  });

  it('lets a PhysError from a stage through unchanged, so its code and retryable survive', async () => {
    const original = new PhysError('PHYS_SOLVER_DIVERGED', 'diverged', { retryable: true });
    const Diverge = defineStage({
      name: 'demo/diverge',
      config: z.object({}),
      process: (): never => {
        throw original;
      },
    });
    expect(await rejection(new SequentialPipeline([Diverge()]).run(null))).toBe(original);
  });

  it('rejects a stage that returns no result object', async () => {
    const Bad = defineStage({
      name: 'demo/bad',
      config: z.object({}),
      process: () => 42 as never,
    });
    const error = await rejection(new SequentialPipeline([Bad()]).run(null));
    expect(error).toBeInstanceOf(StageExecutionError);
    expect(error.message).toContain('must return { state');
  });
});

describe('hooks', () => {
  it('fires start, per-step start/end and end, in registration order', async () => {
    const calls: string[] = [];
    const pipe = new SequentialPipeline(
      [Add({ amount: 1 }, { label: 'a' }), Add({ amount: 2 }, { label: 'b' })],
      {
        name: 'demo',
        hooks: [recordingHook(calls, 'h1')],
      },
    );
    await pipe.run({ payload: 0 }, { hooks: [recordingHook(calls, 'h2')] });
    expect(calls).toEqual([
      'h1:start:demo',
      'h2:start:demo',
      'h1:stepStart:a',
      'h2:stepStart:a',
      'h1:stepEnd:a:COMPLETED',
      'h2:stepEnd:a:COMPLETED',
      'h1:stepStart:b',
      'h2:stepStart:b',
      'h1:stepEnd:b:COMPLETED',
      'h2:stepEnd:b:COMPLETED',
      'h1:end:COMPLETED',
      'h2:end:COMPLETED',
    ]);
  });

  it('hands onStepEnd the stage outputs and onPipelineEnd the status', async () => {
    const ends: unknown[] = [];
    let final: unknown;
    await new SequentialPipeline([Add({ amount: 1 }, { label: 'a' })]).run(
      { payload: 0 },
      {
        hooks: [
          {
            onStepEnd: (e) => void ends.push(e.outputs?.state),
            onPipelineEnd: (e) => {
              final = { status: e.status, error: e.error };
            },
          },
        ],
      },
    );
    expect(ends).toEqual([{ payload: 1 }]);
    expect(final).toEqual({ status: 'COMPLETED', error: undefined });
  });

  it('fires onStepEnd(FAILED), onError and onPipelineEnd(FAILED) when a stage fails', async () => {
    const calls: string[] = [];
    let ended: { status: string; error: Error | undefined } | undefined;
    const Boom = defineStage({
      name: 'demo/boom',
      config: z.object({}),
      process: (): never => {
        throw new Error('no');
      },
    });
    const pipe = new SequentialPipeline([
      Add({ amount: 1 }, { label: 'a' }),
      Boom({}, { label: 'b' }),
      Add({ amount: 1 }, { label: 'c' }),
    ]);
    const error = await rejection(
      pipe.run(
        { payload: 0 },
        {
          hooks: [
            recordingHook(calls),
            {
              onPipelineEnd: (e) => {
                ended = { status: e.status, error: e.error };
              },
            },
          ],
        },
      ),
    );
    expect(calls).toEqual([
      'rec:start:',
      'rec:stepStart:a',
      'rec:stepEnd:a:COMPLETED',
      'rec:stepStart:b',
      'rec:stepEnd:b:FAILED',
      'rec:error:b:StageExecutionError',
      'rec:end:FAILED',
    ]);
    expect(ended?.error).toBe(error);
  });

  it('names the stage in onError for a contract error raised after the stage returned', async () => {
    const calls: string[] = [];
    await rejection(
      new SequentialPipeline([metricStage([1])]).run(null, { hooks: [recordingHook(calls)] }),
    );
    expect(calls).toContain('rec:error:demo/metric:StageContractError');
  });

  it('never lets a throwing hook (sync or async) break the run, and reports it', async () => {
    const lines: string[] = [];
    const calls: string[] = [];
    const result = await new SequentialPipeline([Add({ amount: 1 }, { label: 'a' })]).run(
      { payload: 0 },
      {
        logger: memoryLogger(lines),
        hooks: [
          {
            name: 'sync-thrower',
            onStepStart: () => {
              throw new Error('sync hook broke');
            },
          },
          {
            name: 'async-thrower',
            onStepEnd: async () => {
              await Promise.resolve();
              throw new Error('async hook broke');
            },
          },
          recordingHook(calls),
        ],
      },
    );
    expect(result.state).toEqual({ payload: 1 });
    expect(calls).toEqual([
      'rec:start:',
      'rec:stepStart:a',
      'rec:stepEnd:a:COMPLETED',
      'rec:end:COMPLETED',
    ]);
    expect(result.hookFailures.map((f) => [f.hook, f.event, f.error.message])).toEqual([
      ['sync-thrower', 'onStepStart', 'sync hook broke'],
      ['async-thrower', 'onStepEnd', 'async hook broke'],
    ]);
    expect(lines).toEqual([
      "warn hook 'sync-thrower' failed in onStepStart: sync hook broke",
      "warn hook 'async-thrower' failed in onStepEnd: async hook broke",
    ]);
  });

  it('waits for async hooks before the run resolves', async () => {
    let finished = false;
    await new SequentialPipeline([]).run(null, {
      hooks: [
        {
          onPipelineEnd: async () => {
            await new Promise((resolve) => setImmediate(resolve));
            finished = true;
          },
        },
      ],
    });
    expect(finished).toBe(true);
  });
});

describe('cancellation', () => {
  it('stops waiting for a stage that ignores its signal once the run is cancelled', async () => {
    const controller = new AbortController();
    let ranSecond = false;
    const Deaf = defineStage({
      name: 'demo/deaf',
      config: z.object({}),
      // Never settles and never looks at its signal.
      process: () => new Promise<{ state: unknown }>(() => {}),
    });
    const Second = defineStage({
      name: 'demo/second',
      config: z.object({}),
      process: (state: unknown) => {
        ranSecond = true;
        return { state };
      },
    });
    const run = new SequentialPipeline([Deaf(), Second()]).run(null, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('user pressed ctrl-c')), 10);
    const error = await rejection(run);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.message).toContain("during stage 'demo/deaf'");
    expect(ranSecond).toBe(false);
  });

  it('stops before the next stage once the signal is aborted, with a CancelledError', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let ranSecond = false;
    const Abort = defineStage({
      name: 'demo/abort',
      config: z.object({}),
      process: (state: unknown) => {
        controller.abort(new Error('user pressed ctrl-c'));
        return { state };
      },
    });
    const Second = defineStage({
      name: 'demo/second',
      config: z.object({}),
      process: (state: unknown) => {
        ranSecond = true;
        return { state };
      },
    });
    const error = await rejection(
      new SequentialPipeline([Abort(), Second()]).run(null, {
        signal: controller.signal,
        hooks: [recordingHook(calls)],
      }),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as CancelledError).code).toBe('PHYS_CANCELLED');
    expect(error.message).toContain("before stage 'demo/second'");
    expect((error.cause as Error).message).toBe('user pressed ctrl-c');
    expect(ranSecond).toBe(false);
    expect(calls.at(-1)).toBe('rec:end:CANCELLED');
    expect(calls).toContain('rec:error:-:CancelledError');
  });

  it('turns a stage that stops on the aborted signal into a CancelledError, not a failure', async () => {
    const controller = new AbortController();
    const calls: string[] = [];
    const Long = defineStage({
      name: 'demo/long',
      config: z.object({}),
      process: async (state: unknown, ctx) => {
        controller.abort();
        ctx.signal.throwIfAborted();
        return { state };
      },
    });
    const error = await rejection(
      new SequentialPipeline([Long()]).run(null, {
        signal: controller.signal,
        hooks: [recordingHook(calls)],
      }),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.message).toContain("during stage 'demo/long'");
    expect(calls.slice(-3)).toEqual([
      'rec:stepEnd:demo/long:CANCELLED',
      'rec:error:demo/long:CancelledError',
      'rec:end:CANCELLED',
    ]);
  });

  it('runs nothing when the signal is already aborted', async () => {
    let ran = false;
    const Any = defineStage({
      name: 'demo/any',
      config: z.object({}),
      process: (state: unknown) => {
        ran = true;
        return { state };
      },
    });
    const error = await rejection(
      new SequentialPipeline([Any()]).run(null, { signal: AbortSignal.abort() }),
    );
    expect(error).toBeInstanceOf(CancelledError);
    expect(ran).toBe(false);
  });
});

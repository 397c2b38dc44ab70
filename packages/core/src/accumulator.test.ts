import { describe, expect, it } from 'vitest';
import { INLINE_ARRAY_LIMIT, inlineOrPreview, RunAccumulator } from './accumulator.js';
import type { ArtifactData, ArtifactRecorder, ArtifactRef } from './artifacts.js';
import { StageContractError } from './errors.js';

/** Keeps recorded artifacts in memory: what the accumulator handed to its recorder. */
class MemoryRecorder implements ArtifactRecorder {
  readonly data = new Map<string, ArtifactData>();
  async record(key: string, data: ArtifactData): Promise<ArtifactRef> {
    this.data.set(key, data);
    const bytes =
      typeof data === 'string' ? data.length : ArrayBuffer.isView(data) ? data.byteLength : 0;
    return { path: `memory:${key}`, bytes, sha256: '', mediaType: 'application/octet-stream' };
  }
}

describe('RunAccumulator keys', () => {
  it('joins namespace, stage label and key with dots, skipping empty parts', () => {
    expect(new RunAccumulator({ namespace: ['demo'] }).key('fit', 'chi2')).toBe('demo.fit.chi2');
    expect(new RunAccumulator({ namespace: ['outer', 'wrap'] }).key('inc', 'x')).toBe(
      'outer.wrap.inc.x',
    );
    expect(new RunAccumulator().key('fit', 'chi2')).toBe('fit.chi2');
    expect(new RunAccumulator({ namespace: ['', 'demo'] }).key('', 'chi2')).toBe('demo.chi2');
    expect(new RunAccumulator().key('', 'chi2')).toBe('chi2');
  });
});

describe('RunAccumulator.consume', () => {
  it('namespaces metrics and lets a later write to one key win', async () => {
    const acc = new RunAccumulator({ namespace: ['demo'] });
    await acc.consume('fit', { state: null, metrics: { chi2: 1.5, 'phase.GDD': 2 } });
    await acc.consume('fit', { state: null, metrics: { chi2: 1.2 } });
    expect(acc.metrics).toEqual({ 'demo.fit.chi2': 1.2, 'demo.fit.phase.GDD': 2 });
  });

  it('rejects a non-scalar metric, naming the metric and the stage', async () => {
    const acc = new RunAccumulator({ namespace: ['demo'] });
    await expect(
      acc.consume('fit', { state: null, metrics: { curve: [1, 2] as unknown as number } }),
    ).rejects.toThrow(StageContractError);
    await expect(
      acc.consume('fit', { state: null, metrics: { curve: [1, 2] as unknown as number } }),
    ).rejects.toThrow("Metric 'curve' of stage 'fit' must be a scalar finite number, got Array.");
    await expect(acc.consume('fit', { state: null, metrics: { x: Number.NaN } })).rejects.toThrow(
      /must be a scalar/,
    );
  });

  it('records provenance with the stage label, and skips empty provenance', async () => {
    const acc = new RunAccumulator();
    await acc.consume('a', { state: null, provenance: { solver: 'rk4', stage: 'ignored' } });
    await acc.consume('b', { state: null, provenance: {} });
    await acc.consume('c', { state: null });
    expect(acc.provenance.stages).toEqual([{ solver: 'rk4', stage: 'a' }]);
  });

  it('keeps small artifacts inline, previews large arrays, and marks lazy ones unrecorded when off', async () => {
    let evaluated = false;
    const acc = new RunAccumulator({ namespace: ['demo'] });
    expect(acc.recording).toBe(false);
    await acc.consume('s', {
      state: null,
      artifacts: {
        big: new Int16Array(INLINE_ARRAY_LIMIT + 1),
        list: Array.from({ length: 3000 }, (_, i) => `v${i}`),
        edge: new Float32Array(INLINE_ARRAY_LIMIT),
        table: { rows: 3 },
        flag: true,
        none: null,
        plot: () => {
          evaluated = true;
          return 'svg';
        },
      },
    });
    expect(evaluated).toBe(false);
    expect(acc.artifacts['demo.s.big']).toEqual({
      dtype: 'Int16Array',
      shape: [INLINE_ARRAY_LIMIT + 1],
      head: new Array(16).fill(0),
    });
    expect(acc.artifacts['demo.s.list']).toMatchObject({ dtype: 'Array', shape: [3000] });
    expect((acc.artifacts['demo.s.list'] as { head: string[] }).head[0]).toBe('"v0"');
    expect(acc.artifacts['demo.s.edge']).toBeInstanceOf(Float32Array);
    expect(acc.artifacts['demo.s.table']).toEqual({ rows: 3 });
    expect(acc.artifacts['demo.s.flag']).toBe(true);
    expect(acc.artifacts['demo.s.none']).toBeNull();
    expect(acc.artifacts['demo.s.plot']).toEqual({ lazy: true, recorded: false });
  });

  it('evaluates lazy artifacts and persists data when recording', async () => {
    const recorder = new MemoryRecorder();
    const acc = new RunAccumulator({
      namespace: ['demo'],
      recorder,
    });
    expect(acc.recording).toBe(true);
    await acc.consume('s', {
      state: null,
      artifacts: { plot: async () => 'svg', field: new Float64Array([1, 2]), n: 3 },
    });
    const plot = acc.artifacts['demo.s.plot'] as ArtifactRef;
    expect(plot.path).toBe('memory:demo.s.plot');
    expect(recorder.data.get('demo.s.plot')).toBe('svg');
    expect((acc.artifacts['demo.s.field'] as ArtifactRef).bytes).toBe(16);
    expect(acc.artifacts['demo.s.n']).toBe(3);
  });

  it('keeps an artifact ref a stage already wrote instead of writing it again', async () => {
    const recorder = new MemoryRecorder();
    const acc = new RunAccumulator({
      namespace: ['demo'],
      recorder,
    });
    const ref = await acc.writer('s').write('log', 'once');
    await acc.consume('s', {
      state: null,
      artifacts: { log: ref as unknown as Record<string, unknown> },
    });
    expect(acc.artifacts['demo.s.log']).toBe(ref);
  });
});

describe('RunAccumulator.writer', () => {
  it('does nothing and never calls a lazy artifact when not recording', async () => {
    const writer = new RunAccumulator().writer('s');
    let called = false;
    expect(writer.recording).toBe(false);
    expect(
      await writer.write('x', () => {
        called = true;
        return 'x';
      }),
    ).toBeUndefined();
    expect(called).toBe(false);
  });

  it('writes under the stage namespace and lists the artifact in the run', async () => {
    const recorder = new MemoryRecorder();
    const acc = new RunAccumulator({
      namespace: ['demo'],
      recorder,
    });
    const ref = await acc.writer('s').write('log', () => 'lazy text');
    expect(ref?.path).toBe('memory:demo.s.log');
    expect(recorder.data.get('demo.s.log')).toBe('lazy text');
    expect(acc.artifacts['demo.s.log']).toEqual(ref);
  });
});

describe('inlineOrPreview', () => {
  it('keeps arrays up to the limit and other values as they are', () => {
    const arr = new Array(INLINE_ARRAY_LIMIT).fill(1);
    expect(inlineOrPreview(arr)).toBe(arr);
    expect(inlineOrPreview('text')).toBe('text');
    const view = new DataView(new ArrayBuffer(10_000));
    expect(inlineOrPreview(view)).toBe(view);
    expect(inlineOrPreview(new BigInt64Array(3000))).toMatchObject({
      dtype: 'BigInt64Array',
      head: new Array(16).fill('0'),
    });
  });
});

import { ConfigError, DagState, type NodeSpec, PhysError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { Evaluate, Load, Merge, Train } from '../test/stages.js';
import { collectResults } from './collect-results.js';
import { expandSweep, planSweep } from './expand-sweep.js';
import { DEFAULT_MAX_POINTS, MAX_POINTS_CEILING } from './spec.js';

const chain = (): NodeSpec[] => [
  { id: 'load', stage: Load({ n: 4 }) },
  { id: 'train', stage: Train({ lr: 0.1 }), deps: ['load'] },
  { id: 'eval', stage: Evaluate({}), deps: ['train'] },
];

const ids = (nodes: readonly NodeSpec[]) => nodes.map((n) => n.id);
const byId = (nodes: readonly NodeSpec[], id: string) => nodes.find((n) => n.id === id) as NodeSpec;

function caught(fn: () => unknown): PhysError {
  try {
    fn();
  } catch (error) {
    if (PhysError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a PhysError');
}

describe('expandSweep (grid)', () => {
  it('duplicates the swept node and its downstream subgraph per point, with rewired edges', () => {
    const nodes = expandSweep(chain(), {
      node: 'train',
      params: { lr: [0.01, 0.1], bs: [32, 64] },
    });
    expect(ids(nodes)).toEqual([
      'load',
      'train[bs=32,lr=0.01]',
      'train[bs=32,lr=0.1]',
      'train[bs=64,lr=0.01]',
      'train[bs=64,lr=0.1]',
      'eval[bs=32,lr=0.01]',
      'eval[bs=32,lr=0.1]',
      'eval[bs=64,lr=0.01]',
      'eval[bs=64,lr=0.1]',
    ]);
    expect(byId(nodes, 'train[bs=64,lr=0.01]').deps).toEqual(['load']);
    expect(byId(nodes, 'eval[bs=64,lr=0.01]').deps).toEqual(['train[bs=64,lr=0.01]']);
    const train = byId(nodes, 'train[bs=64,lr=0.01]').stage;
    expect(train.config).toEqual({ lr: 0.01, bs: 64, optimizer: { momentum: 0.9 } });
    expect(train.name).toBe('test/train');
    expect(Object.isFrozen(train.config)).toBe(true);
    expect(byId(nodes, 'eval[bs=64,lr=0.01]').tags).toEqual({
      'sweep.node': 'eval',
      'sweep.point': 'bs=64,lr=0.01',
    });
  });

  it('is deterministic, whatever the order of params and specs', () => {
    const a = expandSweep(chain(), { node: 'train', params: { lr: [0.01, 0.1], bs: [32, 64] } });
    const b = expandSweep(chain(), { node: 'train', params: { bs: [32, 64], lr: [0.01, 0.1] } });
    expect(ids(a)).toEqual(ids(b));
    expect(a.map((n) => n.stage.configHash)).toEqual(b.map((n) => n.stage.configHash));
  });

  it('renders values canonically in ids', () => {
    const nodes = expandSweep(chain(), {
      node: 'train',
      params: { lr: [0.1 + 0.2, 1e-7], tag: ['adam', 'a,b', '7'] },
    });
    expect(ids(nodes).filter((id) => id.startsWith('train['))).toEqual([
      'train[lr=0.30000000000000004,tag=adam]',
      'train[lr=0.30000000000000004,tag="a,b"]',
      'train[lr=0.30000000000000004,tag="7"]',
      'train[lr=1e-7,tag=adam]',
      'train[lr=1e-7,tag="a,b"]',
      'train[lr=1e-7,tag="7"]',
    ]);
  });

  it('sweeps nested config keys by dotted name', () => {
    const nodes = expandSweep(chain(), {
      node: 'train',
      params: { 'optimizer.momentum': [0, 0.5] },
    });
    expect(byId(nodes, 'train[optimizer.momentum=0.5]').stage.config).toEqual({
      lr: 0.1,
      bs: 16,
      optimizer: { momentum: 0.5 },
    });
  });

  it('gives a node downstream of two swept nodes one copy per combination', () => {
    const nodes: NodeSpec[] = [
      { id: 'load', stage: Load({ n: 2 }) },
      { id: 'a', stage: Train({ lr: 0.1 }), deps: ['load'] },
      { id: 'b', stage: Train({ lr: 0.1 }), deps: ['load'] },
      { id: 'merge', stage: Merge({}), deps: ['a', 'b'] },
    ];
    const plan = planSweep(nodes, [
      { node: 'a', params: { lr: [1, 2] } },
      { node: 'b', params: { lr: [3, 4, 5] } },
    ]);
    expect(ids(plan.nodes)).toEqual([
      'load',
      'a[lr=1]',
      'a[lr=2]',
      'b[lr=3]',
      'b[lr=4]',
      'b[lr=5]',
      'merge[a.lr=1,b.lr=3]',
      'merge[a.lr=1,b.lr=4]',
      'merge[a.lr=1,b.lr=5]',
      'merge[a.lr=2,b.lr=3]',
      'merge[a.lr=2,b.lr=4]',
      'merge[a.lr=2,b.lr=5]',
    ]);
    expect(byId(plan.nodes, 'merge[a.lr=2,b.lr=4]').deps).toEqual(['a[lr=2]', 'b[lr=4]']);
    expect(plan.params).toEqual(['a.lr', 'b.lr']);
    expect(plan.points).toHaveLength(6);
    expect(plan.points[4]).toMatchObject({
      label: 'a.lr=2,b.lr=4',
      params: { 'a.lr': 2, 'b.lr': 4 },
      assignments: { a: { lr: 2 }, b: { lr: 4 } },
      nodes: { a: 'a[lr=2]', b: 'b[lr=4]', merge: 'merge[a.lr=2,b.lr=4]' },
    });
  });

  it('lets every copy see its parents under their declared ids, and tells it its point', () => {
    const nodes: NodeSpec[] = [
      { id: 'load', stage: Load({ n: 2 }) },
      { id: 'a', stage: Train({ lr: 0.1 }), deps: ['load'] },
      { id: 'b', stage: Train({ lr: 0.1 }), deps: ['load'] },
      { id: 'merge', stage: Merge({}), deps: ['a', 'b', 'load'], inputNames: { load: 'data' } },
    ];
    const plan = planSweep(nodes, [
      { node: 'a', params: { lr: [1, 2] } },
      { node: 'b', params: { lr: [3] } },
    ]);
    const merge = byId(plan.nodes, 'merge[a.lr=2,b.lr=3]');
    expect(merge.deps).toEqual(['a[lr=2]', 'b[lr=3]', 'load']);
    expect(merge.inputNames).toEqual({ 'a[lr=2]': 'a', 'b[lr=3]': 'b', load: 'data' });
    expect(merge.point).toEqual({ 'a.lr': 2, 'b.lr': 3 });
    expect(byId(plan.nodes, 'a[lr=2]').point).toEqual({ lr: 2 });
    expect(byId(plan.nodes, 'a[lr=2]').inputNames).toBeUndefined();
    // untouched nodes stay as they were
    expect(byId(plan.nodes, 'load')).toBe(nodes[0]);
  });

  it('sweeps a node downstream of another swept node per combination', () => {
    const nodes = expandSweep(chain(), [
      { node: 'load', params: { n: [1, 2] } },
      { node: 'train', params: { lr: [0.5] } },
    ]);
    expect(ids(nodes)).toEqual([
      'load[n=1]',
      'load[n=2]',
      'train[load.n=1,train.lr=0.5]',
      'train[load.n=2,train.lr=0.5]',
      'eval[load.n=1,train.lr=0.5]',
      'eval[load.n=2,train.lr=0.5]',
    ]);
    expect(byId(nodes, 'train[load.n=2,train.lr=0.5]').deps).toEqual(['load[n=2]']);
  });

  it('leaves nodes outside the swept subgraph alone', () => {
    const nodes: NodeSpec[] = [
      ...chain(),
      { id: 'other', stage: Load({ n: 1 }) },
      { id: 'side', stage: Evaluate({}), deps: ['load'] },
    ];
    const out = expandSweep(nodes, { node: 'train', params: { lr: [1, 2] } });
    expect(byId(out, 'other')).toBe(nodes[3]);
    expect(byId(out, 'side')).toBe(nodes[4]);
    expect(byId(out, 'load')).toBe(nodes[0]);
  });
});

describe('expandSweep (zip)', () => {
  it('pairs the i-th values of every parameter', () => {
    const nodes = expandSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1, 1], bs: [8, 16, 32] } },
      { mode: 'zip' },
    );
    expect(ids(nodes).filter((id) => id.startsWith('train'))).toEqual([
      'train[bs=8,lr=0.01]',
      'train[bs=16,lr=0.1]',
      'train[bs=32,lr=1]',
    ]);
  });

  it('rejects lists of different lengths', () => {
    const error = caught(() =>
      expandSweep(
        chain(),
        { node: 'train', params: { lr: [0.01, 0.1], bs: [8] } },
        { mode: 'zip' },
      ),
    );
    expect(error.code).toBe('PHYS_SWEEP_INVALID');
    expect(error.message).toContain('train.bs: 1, train.lr: 2');
  });
});

describe('expandSweep validation', () => {
  it('validates every point before building anything, reporting all bad points together', () => {
    const error = caught(() =>
      expandSweep(chain(), { node: 'train', params: { lr: [-1, 0.1, 0], bs: [0, 16] } }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('PHYS_SWEEP_INVALID');
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual([
      'train[bs=0,lr=-1].lr',
      'train[bs=0,lr=-1].bs',
      'train[bs=0,lr=0.1].bs',
      'train[bs=0,lr=0].lr',
      'train[bs=0,lr=0].bs',
      'train[bs=16,lr=-1].lr',
      'train[bs=16,lr=0].lr',
    ]);
    expect(error.message).toContain('train[bs=16,lr=-1].lr');
  });

  it('rejects wrong types that the original let through', () => {
    const error = caught(() => expandSweep(chain(), { node: 'train', params: { bs: ['notint'] } }));
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['train[bs=notint].bs']);
  });

  it('rejects unknown nodes and unknown parameters, all at once', () => {
    const error = caught(() =>
      expandSweep(chain(), [
        { node: 'trian', params: { lr: [1] } },
        { node: 'train', params: { lrr: [1], 'optimizer.mom': [0.1], lr: [] } },
      ]),
    );
    expect(error.code).toBe('PHYS_SWEEP_INVALID');
    const issues = (error as ConfigError).issues;
    expect(issues.map((i) => i.path)).toEqual([
      'trian',
      'train.lrr',
      'train.optimizer.mom',
      'train.lr',
    ]);
    expect(issues[0]?.message).toContain(
      'no node with this id in the DAG (nodes: load, train, eval)',
    );
    expect(issues[1]?.message).toContain(
      "stage 'test/train' has no key 'lrr' (it has: lr, bs, optimizer, tag)",
    );
    expect(issues[2]?.message).toContain("no key 'mom' (it has: momentum)");
    expect(issues[3]?.message).toContain('has no values');
  });

  it('rejects an unknown mode, a missing seed or sample count, and a range without steps in a grid', () => {
    expect(() =>
      expandSweep(chain(), { node: 'train', params: { lr: [1] } }, { mode: 'spiral' as 'grid' }),
    ).toThrow(/Unknown sweep mode "spiral"/);
    const sampled = caught(() =>
      expandSweep(chain(), { node: 'train', params: { lr: { min: 0, max: 1 } } }, {
        mode: 'lhs',
        samples: 0,
      } as never),
    );
    expect((sampled as ConfigError).issues.map((i) => i.path)).toEqual(['samples', 'seed']);
    const grid = caught(() =>
      expandSweep(chain(), { node: 'train', params: { lr: { min: 0.1, max: 1 } } }),
    );
    expect(grid.message).toContain('a range needs `steps` in grid mode');
  });

  it('reports a copy id that clashes with an existing node', () => {
    const nodes: NodeSpec[] = [...chain(), { id: 'eval[lr=1]', stage: Load({}) }];
    expect(() => expandSweep(nodes, { node: 'train', params: { lr: [1] } })).toThrow(
      /made node id 'eval\[lr=1\]' twice/,
    );
  });
});

describe('expandSweep ranges', () => {
  it('spaces grid values evenly, or geometrically with log', () => {
    const lin = expandSweep(chain(), {
      node: 'train',
      params: { lr: { min: 1.5, max: 3, steps: 4 } },
    });
    expect(ids(lin).filter((id) => id.startsWith('train'))).toEqual([
      'train[lr=1.5]',
      'train[lr=2]',
      'train[lr=2.5]',
      'train[lr=3]',
    ]);
    const log = planSweep(chain(), {
      node: 'train',
      params: { lr: { min: 1e-4, max: 1, steps: 5, log: true } },
    });
    expect(log.points.map((p) => p.params.lr)).toEqual([1e-4, 1e-3, 1e-2, 1e-1, 1]);
  });
});

describe('point limits', () => {
  it('refuses a 1e8-point grid before expanding it, with the count and how to raise the limit', () => {
    const error = caught(() =>
      planSweep(chain(), {
        node: 'train',
        params: {
          lr: { min: 0.001, max: 1, steps: 10_000 },
          bs: { min: 1, max: 10_000, steps: 10_000, integer: true },
        },
      }),
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('PHYS_SWEEP_TOO_LARGE');
    expect(error.message).toContain(
      'The sweep has 100,000,000 points (grid: train.bs 10,000 × train.lr 10,000), more than maxPoints allows (100,000)',
    );
    expect(error.message).toContain('split the study into several sweeps');
    expect(error.details).toMatchObject({ points: 100_000_000, maxPoints: DEFAULT_MAX_POINTS });
  });

  it('counts without allocating: an axis of 1e15 steps and 1e12 samples are refused', () => {
    const steps = caught(() =>
      planSweep(chain(), { node: 'train', params: { lr: { min: 1, max: 2, steps: 1e15 } } }),
    );
    expect(steps.code).toBe('PHYS_SWEEP_TOO_LARGE');
    expect(steps.message).toContain('1,000,000,000,000,000 points (grid: train.lr');
    const samples = caught(() =>
      planSweep(
        chain(),
        { node: 'train', params: { lr: { min: 0.1, max: 1 } } },
        { mode: 'lhs', samples: 1e12, seed: 1 },
      ),
    );
    expect(samples.code).toBe('PHYS_SWEEP_TOO_LARGE');
    expect(samples.message).toContain('(lhs: samples = 1,000,000,000,000)');
    const zip = caught(() =>
      planSweep(
        chain(),
        { node: 'train', params: { lr: { min: 0.1, max: 1, steps: 2e5 } } },
        { mode: 'zip' },
      ),
    );
    expect(zip.message).toContain('The sweep has 200,000 points (zip: a list of 200,000 values)');
  });

  it('takes maxPoints: up to it the sweep expands, above it the error names the value to set', () => {
    const spec = { node: 'train', params: { lr: [0.1, 0.2], bs: [8, 16] } };
    expect(planSweep(chain(), spec, { maxPoints: 4 }).points).toHaveLength(4);
    const error = caught(() => planSweep(chain(), spec, { maxPoints: 3 }));
    expect(error.code).toBe('PHYS_SWEEP_TOO_LARGE');
    expect(error.message).toContain('more than maxPoints allows (3)');
    expect(error.message).toContain("plugins: [['sweep', { maxPoints: 4 }]]");
    for (const bad of [0, 1.5, MAX_POINTS_CEILING + 1]) {
      const invalid = caught(() => planSweep(chain(), spec, { maxPoints: bad }));
      expect(invalid.code).toBe('PHYS_SWEEP_INVALID');
      expect(invalid.message).toContain(
        `maxPoints: must be a whole number from 1 to ${MAX_POINTS_CEILING}`,
      );
    }
  });
});

describe('collect node', () => {
  it('fans in every point, in point order, with the points filled into collectResults', () => {
    const plan = planSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1] } },
      { collect: { id: 'results', stage: collectResults({ metrics: ['accuracy'] }) } },
    );
    const results = byId(plan.nodes, 'results');
    expect(results.deps).toEqual(['eval[lr=0.01]', 'eval[lr=0.1]']);
    expect(plan.collectFrom).toEqual(['eval']);
    expect(results.stage.config).toEqual({
      metrics: ['accuracy'],
      params: ['lr'],
      points: [
        { label: 'lr=0.01', params: { lr: 0.01 }, inputs: { eval: 'eval[lr=0.01]' } },
        { label: 'lr=0.1', params: { lr: 0.1 }, inputs: { eval: 'eval[lr=0.1]' } },
      ],
    });
  });

  it('collects from chosen nodes, and uses a stage without `points` as given', () => {
    const merge = Merge({});
    const plan = planSweep(
      chain(),
      { node: 'train', params: { lr: [1, 2] } },
      { collect: { id: 'all', stage: merge, from: ['train', 'eval'] } },
    );
    const all = byId(plan.nodes, 'all');
    expect(all.stage).toBe(merge);
    expect(all.deps).toEqual(['train[lr=1]', 'eval[lr=1]', 'train[lr=2]', 'eval[lr=2]']);
  });

  it('rejects a collect node fed by a node that is not duplicated, or with a taken id', () => {
    expect(() =>
      expandSweep(
        chain(),
        { node: 'train', params: { lr: [1] } },
        { collect: { id: 'r', from: 'load' } },
      ),
    ).toThrow(/collect.from names 'load', but it is not swept nor downstream/);
    expect(() =>
      expandSweep(chain(), { node: 'train', params: { lr: [1] } }, { collect: { id: 'load' } }),
    ).toThrow(/collect node id 'load' is already used/);
  });

  it('processes a DagState into a results table', async () => {
    const plan = planSweep(
      chain(),
      { node: 'train', params: { lr: [0.01, 0.1] } },
      { collect: { id: 'results' } },
    );
    const stage = byId(plan.nodes, 'results').stage;
    const input = new DagState([
      ['eval[lr=0.01]', { accuracy: 0.5, loss: 1 }],
      ['eval[lr=0.1]', { accuracy: 0.25, loss: 3, note: 'x' }],
    ]);
    const out = await stage.process(input, { nodeId: 'results', config: stage.config } as never);
    expect(out.state).toEqual({
      format: 'phys-sweep-results/1',
      params: ['lr'],
      metrics: ['accuracy', 'loss'],
      rows: [
        { point: 'lr=0.01', params: { lr: 0.01 }, metrics: { accuracy: 0.5, loss: 1 } },
        { point: 'lr=0.1', params: { lr: 0.1 }, metrics: { accuracy: 0.25, loss: 3 } },
      ],
    });
    expect(out.artifacts?.['results.csv']).toBe(
      'point,lr,accuracy,loss\r\nlr=0.01,0.01,0.5,1\r\nlr=0.1,0.1,0.25,3\r\n',
    );
    expect(out.metrics).toEqual({ points: 2 });
  });
});

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DagValidationError, PhysError } from '../errors.js';
import type { NodeSpec } from '../node-spec.js';
import { defineStage } from '../stage.js';
import { hashState } from '../state/hash.js';
import {
  codeFingerprint,
  computeDagKeys,
  DAG_KEY_FORMAT,
  type DagKeyInputs,
  dagCacheKey,
  explainKeyChange,
  formatKeyChange,
} from './dag-keys.js';

const Add = defineStage({
  name: 'test/add',
  version: '1',
  config: z.object({ amount: z.number() }),
  process: (state: { x: number }, ctx) => ({ state: { x: state.x + ctx.config.amount } }),
});

const Merge = defineStage({
  name: 'test/merge',
  version: '1',
  config: z.object({}),
  process: (state: unknown) => ({ state }),
});

/**
 *     a   b
 *     |\ /
 *     c d      e (independent root)
 *      \|
 *       f
 */
function graph(amounts: Partial<Record<string, number>> = {}): NodeSpec[] {
  const add = (id: string) => Add({ amount: amounts[id] ?? 1 });
  return [
    { id: 'a', stage: add('a') },
    { id: 'b', stage: add('b') },
    { id: 'c', stage: add('c'), deps: ['a'] },
    { id: 'd', stage: Merge({}), deps: ['a', 'b'] },
    { id: 'e', stage: add('e') },
    { id: 'f', stage: Merge({}), deps: ['c', 'd'] },
  ];
}

const initialStateHash = hashState({ x: 0 });

function keysOf(nodes: NodeSpec[], options: Partial<Parameters<typeof computeDagKeys>[1]> = {}) {
  const keys = computeDagKeys(nodes, { initialStateHash, ...options });
  return Object.fromEntries([...keys].map(([id, k]) => [id, k.key]));
}

function changed(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(after)
    .filter((id) => before[id] !== after[id])
    .sort();
}

const base: DagKeyInputs = {
  formatVersion: DAG_KEY_FORMAT,
  stageName: 'test/add',
  stageVersion: '1',
  configHash: 'c'.repeat(64),
  policyHash: null,
  rootInputHash: 'r'.repeat(64),
  codeFingerprint: 'f'.repeat(64),
};

describe('dagCacheKey', () => {
  it('is 64 hex digits, stable, and changes with every input', () => {
    const key = dagCacheKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(dagCacheKey({ ...base })).toBe(key);
    const variants: DagKeyInputs[] = [
      { ...base, formatVersion: 'phys-dag-key/2' },
      { ...base, stageName: 'test/other' },
      { ...base, stageVersion: '2' },
      { ...base, configHash: 'd'.repeat(64) },
      { ...base, policyHash: 'p'.repeat(64) },
      { ...base, rootInputHash: 's'.repeat(64) },
      { ...base, codeFingerprint: null },
      { ...base, codeFingerprint: 'g'.repeat(64) },
    ];
    const keys = new Set([key, ...variants.map(dagCacheKey)]);
    expect(keys.size).toBe(variants.length + 1);
  });

  it('tells a root input from a dependency key with the same text', () => {
    const { rootInputHash: _, ...rest } = base;
    expect(dagCacheKey({ ...rest, depKeys: ['r'.repeat(64)] })).not.toBe(dagCacheKey(base));
  });

  it('depends on the order of dependency keys', () => {
    const { rootInputHash: _, ...rest } = base;
    expect(dagCacheKey({ ...rest, depKeys: ['1', '2'] })).not.toBe(
      dagCacheKey({ ...rest, depKeys: ['2', '1'] }),
    );
  });

  it('needs exactly one of rootInputHash and a non-empty depKeys', () => {
    const { rootInputHash: _, ...rest } = base;
    expect(() => dagCacheKey(rest)).toThrow(/exactly one of rootInputHash/);
    expect(() => dagCacheKey({ ...base, depKeys: ['x'] })).toThrow(PhysError);
    expect(() => dagCacheKey({ ...rest, depKeys: [] })).toThrow(/non-empty depKeys/);
  });
});

describe('computeDagKeys', () => {
  it('keys every node before anything runs, in topological order', () => {
    const keys = computeDagKeys([...graph()].reverse(), { initialStateHash });
    const order = [...keys.keys()];
    expect(order.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    const position = (id: string) => [...keys.keys()].indexOf(id);
    expect(position('a')).toBeLessThan(position('c'));
    expect(position('d')).toBeLessThan(position('f'));
    const f = keys.get('f');
    expect(f?.deps).toEqual(['c', 'd']);
    expect(f?.inputs.depKeys).toEqual([keys.get('c')?.key, keys.get('d')?.key]);
    expect(keys.get('a')?.inputs.rootInputHash).toBe(initialStateHash);
  });

  it('invalidates exactly the changed node and its descendants when one upstream config changes', () => {
    const before = keysOf(graph());
    expect(changed(before, keysOf(graph({ a: 5 })))).toEqual(['a', 'c', 'd', 'f']);
    expect(changed(before, keysOf(graph({ b: 5 })))).toEqual(['b', 'd', 'f']);
    expect(changed(before, keysOf(graph({ c: 5 })))).toEqual(['c', 'f']);
    expect(changed(before, keysOf(graph({ e: 5 })))).toEqual(['e']);
    expect(keysOf(graph())).toEqual(before);
  });

  it('leaves the node id out of the key: renamed nodes and identical roots share keys', () => {
    const keys = keysOf(graph());
    expect(keys.a).toBe(keys.b);
    expect(keys.a).toBe(keys.e);
    const renamed = graph().map((n) => ({
      ...n,
      id: `x_${n.id}`,
      ...(n.deps === undefined ? {} : { deps: n.deps.map((d) => `x_${d}`) }),
    }));
    const renamedKeys = keysOf(renamed);
    for (const id of Object.keys(keys)) expect(renamedKeys[`x_${id}`]).toBe(keys[id]);
  });

  it('invalidates a node whose stage version changes, and its descendants', () => {
    // Same code text as Add, only the version differs.
    const SameCodeV2 = defineStage({
      name: 'test/add',
      version: '2',
      config: z.object({ amount: z.number() }),
      process: (state: { x: number }, ctx) => ({ state: { x: state.x + ctx.config.amount } }),
    });
    expect(SameCodeV2.source).toBe(Add.source);
    const before = keysOf(graph());
    const nodes = graph().map((n) =>
      n.id === 'c' ? { ...n, stage: SameCodeV2({ amount: 1 }) } : n,
    );
    expect(changed(before, keysOf(nodes))).toEqual(['c', 'f']);
  });

  it('invalidates a node whose code changes under the same name and version', () => {
    const Edited = defineStage({
      name: 'test/add',
      version: '1',
      config: z.object({ amount: z.number() }),
      process: (state: { x: number }, ctx) => ({ state: { x: state.x - ctx.config.amount } }),
    });
    expect(Edited.source).not.toBe(Add.source);
    const before = keysOf(graph());
    const nodes = graph().map((n) => (n.id === 'b' ? { ...n, stage: Edited({ amount: 1 }) } : n));
    expect(changed(before, keysOf(nodes))).toEqual(['b', 'd', 'f']);
    // Without fingerprints only the version protects you: the edit goes unnoticed.
    expect(
      changed(
        keysOf(graph(), { fingerprintCode: false }),
        keysOf(nodes, { fingerprintCode: false }),
      ),
    ).toEqual([]);
  });

  it('invalidates every node when the policy or the initial state changes', () => {
    const before = keysOf(graph());
    const all = ['a', 'b', 'c', 'd', 'e', 'f'];
    expect(changed(before, keysOf(graph(), { policyHash: hashState({ seed: 1 }) }))).toEqual(all);
    expect(changed(before, keysOf(graph(), { initialStateHash: hashState({ x: 1 }) }))).toEqual(
      all,
    );
  });

  it('depends on the order of a node’s deps', () => {
    const nodes = graph({ b: 2 });
    const swapped = nodes.map((n) => (n.id === 'd' ? { ...n, deps: ['b', 'a'] } : n));
    expect(changed(keysOf(nodes), keysOf(swapped))).toEqual(['d', 'f']);
  });

  it('rejects invalid graphs with errors that name the nodes', () => {
    const stage = Add({ amount: 1 });
    const check = (nodes: NodeSpec[], message: RegExp) => {
      try {
        computeDagKeys(nodes, { initialStateHash });
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(DagValidationError);
        expect((error as PhysError).code).toBe('PHYS_DAG_INVALID');
        expect((error as Error).message).toMatch(message);
      }
    };
    check(
      [
        { id: 'a', stage },
        { id: 'a', stage },
      ],
      /Duplicate node id 'a'/,
    );
    check([{ id: 'a', stage, deps: ['zz'] }], /'a' depends on 'zz'/);
    check(
      [
        { id: 'a', stage },
        { id: 'b', stage, deps: ['a', 'a'] },
      ],
      /lists dependency 'a' twice/,
    );
    check(
      [
        { id: 'r', stage },
        { id: 'x', stage, deps: ['r', 'z'] },
        { id: 'y', stage, deps: ['x'] },
        { id: 'z', stage, deps: ['y'] },
      ],
      /Cycle detected: (x → y → z → x|y → z → x → y|z → x → y → z)/,
    );
    expect(() => computeDagKeys([], { initialStateHash: '' })).toThrow(/initialStateHash/);
  });
});

describe('codeFingerprint', () => {
  it('hashes the process source of the definition behind a stage', () => {
    expect(codeFingerprint(Add({ amount: 1 }))).toBe(hashState(Add.source));
    expect(codeFingerprint(Add)).toBe(codeFingerprint(Add({ amount: 2 })));
    expect(codeFingerprint(Add)).not.toBe(codeFingerprint(Merge));
  });
});

describe('explainKeyChange', () => {
  const { rootInputHash: _, ...node } = base;
  const withDeps = { ...node, depKeys: ['k1', 'k2'] };

  it('names every input that changed', () => {
    expect(explainKeyChange(undefined, base)).toEqual([{ kind: 'new' }]);
    expect(explainKeyChange(base, { ...base })).toEqual([]);
    expect(explainKeyChange(base, { ...base, configHash: 'x' })).toEqual([{ kind: 'config' }]);
    expect(explainKeyChange(base, { ...base, stageVersion: '2', configHash: 'x' })).toEqual([
      { kind: 'version', from: '1', to: '2' },
    ]);
    expect(explainKeyChange(base, { ...base, codeFingerprint: 'x' })).toEqual([{ kind: 'code' }]);
    expect(explainKeyChange(base, { ...base, policyHash: 'p' })).toEqual([{ kind: 'policy' }]);
    expect(explainKeyChange(base, { ...base, rootInputHash: 'x' })).toEqual([{ kind: 'input' }]);
    expect(explainKeyChange(base, { ...base, formatVersion: 'v9' })).toEqual([
      { kind: 'format', from: DAG_KEY_FORMAT, to: 'v9' },
    ]);
    expect(explainKeyChange(base, withDeps)).toEqual([{ kind: 'deps' }]);
    expect(
      explainKeyChange(withDeps, { ...withDeps, depKeys: ['k1', 'k3'] }, ['left', 'right']),
    ).toEqual([{ kind: 'upstream', deps: ['right'] }]);
  });

  it('formats reasons for people', () => {
    expect(formatKeyChange([{ kind: 'config' }, { kind: 'upstream', deps: ['a', 'b'] }])).toBe(
      'changed config, changed upstream (a, b)',
    );
    expect(formatKeyChange([{ kind: 'new' }])).toMatch(/^new key/);
    expect(formatKeyChange([])).toBe('unchanged');
  });
});

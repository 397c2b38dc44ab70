import { describe, expect, it } from 'vitest';
import { DagValidationError } from '../errors.js';
import { type DagProblem, indexDag, validateDag } from './validate-dag.js';

const kinds = (problems: readonly DagProblem[]) => problems.map((p) => `${p.kind}:${p.node}`);

describe('indexDag', () => {
  it('collects every structural problem of a graph in one pass, with the nodes named', () => {
    const problems: DagProblem[] = [];
    indexDag(
      [{ id: 'a' }, { id: 'a' }, { id: 'b', deps: ['zz', 'b', 'a', 'a'] }, { deps: [] }],
      problems,
    );
    expect(kinds(problems)).toEqual([
      'duplicate-id:a',
      'invalid-node:#3',
      'missing-dependency:b',
      'self-dependency:b',
      'duplicate-dependency:b',
    ]);
  });

  it('checks inputNames: only deps renamed, to non-empty names, no two deps under one name', () => {
    const problems: DagProblem[] = [];
    indexDag(
      [
        { id: 'a' },
        { id: 'b' },
        { id: 'ok', deps: ['a', 'b'], inputNames: { a: 'mesh' } },
        { id: 'typo', deps: ['a', 'b'], inputNames: { c: 'mesh', b: '' } },
        { id: 'clash', deps: ['a', 'b'], inputNames: { a: 'b' } },
        { id: 'list', deps: ['a'], inputNames: ['mesh'] },
      ],
      problems,
    );
    expect(kinds(problems)).toEqual([
      'invalid-input-names:typo',
      'invalid-input-names:typo',
      'invalid-input-names:clash',
      'invalid-input-names:list',
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringContaining("names 'c' in `inputNames`, but 'c' is not one of its deps"),
      expect.stringContaining(`gives dep 'b' the input name ""`),
      expect.stringContaining("would see deps 'a' and 'b' under one name 'b'"),
      expect.stringContaining('`inputNames` that is not an object'),
    ]);
  });

  it('finds a cycle only in an otherwise well-formed graph, and names its nodes in data-flow order', () => {
    const problems: DagProblem[] = [];
    indexDag(
      [
        { id: 'r' },
        { id: 'x', deps: ['r', 'z'] },
        { id: 'y', deps: ['x'] },
        { id: 'z', deps: ['y'] },
      ],
      problems,
    );
    expect(problems).toHaveLength(1);
    const cycle = problems[0]?.cycle ?? [];
    expect(cycle[0]).toBe(cycle.at(-1));
    expect(new Set(cycle)).toEqual(new Set(['x', 'y', 'z']));
  });

  it('orders a valid graph topologically, ties in list order, when asked', () => {
    const dag = validateDag(
      [{ id: 'c', deps: ['a'] }, { id: 'a' }, { id: 'b' }, { id: 'd', deps: ['c', 'b'] }],
      { order: true },
    );
    expect([...(dag.order ?? [])].map((i) => dag.ids[i])).toEqual(['a', 'b', 'c', 'd']);
    expect(dag.forwardOnly).toBe(false);
    expect([...dag.depList.subarray(dag.depStart[3], dag.depStart[4])]).toEqual([0, 2]);
  });
});

describe('validateDag', () => {
  it('throws one DagValidationError that lists every problem', () => {
    try {
      validateDag([
        { id: 'a', deps: ['x'] },
        { id: 'b', deps: ['y'] },
      ]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DagValidationError);
      expect((error as DagValidationError).message).toContain('Invalid DAG (2 problems)');
      expect((error as DagValidationError).message).toContain("'b' depends on 'y'");
    }
    expect(() => validateDag('nodes' as never)).toThrow(/must be an array of nodes/);
  });
});

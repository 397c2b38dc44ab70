import { describe, expect, it } from 'vitest';
import { toDot, toMermaid } from './graph-format.js';

const nodes = [
  { id: 'load', stage: { name: 'io/load' } },
  { id: 'fit "x"', deps: ['load'], stage: { name: 'fit' } },
  { id: 'plot', deps: ['load', 'fit "x"'] },
];

describe('graph formats', () => {
  it('prints a Mermaid flowchart with escaped labels and deps-order edges', () => {
    expect(toMermaid(nodes, { statuses: { load: 'COMPLETED', plot: { status: 'FAILED' } } })).toBe(
      [
        'flowchart TD',
        '  n0["load<br/><small>io/load</small>"]',
        '  n1["fit #quot;x#quot;<br/><small>fit</small>"]',
        '  n2["plot"]',
        '  n0 --> n1',
        '  n0 --> n2',
        '  n1 --> n2',
        '  class n0 completed',
        '  class n2 failed',
        '  classDef completed fill:#c8e6c9',
        '  classDef failed fill:#ffcdd2',
        '',
      ].join('\n'),
    );
  });

  it('prints Graphviz DOT with quoted ids', () => {
    const dot = toDot(nodes, { direction: 'LR', stageNames: false });
    expect(dot).toContain('rankdir=LR;');
    expect(dot).toContain('"fit \\"x\\"" [label="fit \\"x\\""];');
    expect(dot).toContain('"load" -> "fit \\"x\\"";');
    expect(dot.trimEnd().endsWith('}')).toBe(true);
  });
});

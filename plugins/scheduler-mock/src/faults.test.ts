import { describe, expect, it } from 'vitest';
import { pickFault, seededRandom } from './faults.js';
import { mockFaultSchema } from './options.js';

const fault = (spec: Parameters<typeof mockFaultSchema.parse>[0]) => mockFaultSchema.parse(spec);

describe('fault rules', () => {
  const target = { nodeId: 'train', attempt: 1, host: 'cn01' };

  it('match by node id, id list, RegExp, host and attempt; the first match wins', () => {
    const rules = [
      fault({ kind: 'lost', nodeId: 'other' }),
      fault({ kind: 'fail', nodeId: /^tr/g, attempts: [2] }),
      fault({ kind: 'node-fail', nodeId: ['x', 'train'], host: 'cn01' }),
      fault({ kind: 'timeout' }),
    ];
    const draws = rules.map(() => 0.5);
    expect(pickFault(rules, target, draws)?.kind).toBe('node-fail');
    expect(pickFault(rules, { ...target, attempt: 2 }, draws)?.kind).toBe('fail');
    // A global RegExp must match on every call, not every other one.
    expect(pickFault(rules, { ...target, attempt: 2 }, draws)?.kind).toBe('fail');
    expect(pickFault(rules, { ...target, host: 'cn02' }, draws)?.kind).toBe('timeout');
    expect(pickFault([], target, [])).toBeUndefined();
  });

  it('strike with their probability, decided by the job’s draw', () => {
    const rules = [fault({ kind: 'fail', probability: 0.25 })];
    expect(pickFault(rules, target, [0.2])?.kind).toBe('fail');
    expect(pickFault(rules, target, [0.25])).toBeUndefined();
    expect(pickFault([fault({ kind: 'fail', probability: 0 })], target, [0])).toBeUndefined();
  });

  it('the generator repeats for a seed and differs between seeds', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const seqA = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(seqA);
    expect(Array.from({ length: 5 }, c)).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

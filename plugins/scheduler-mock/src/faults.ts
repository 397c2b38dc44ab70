import type { ResolvedMockFault } from './options.js';

/** A seeded generator (mulberry32): the same seed and submissions give the same faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a fault rule is matched against. */
export interface FaultTarget {
  readonly nodeId: string;
  readonly attempt: number;
  readonly host: string;
}

/**
 * The first rule that strikes `target`. `draws[i]` is the job's draw for rule `i`, made at
 * submit so that the outcome depends on submission order only, not on timing.
 */
export function pickFault(
  faults: readonly ResolvedMockFault[],
  target: FaultTarget,
  draws: readonly number[],
): ResolvedMockFault | undefined {
  for (const [i, fault] of faults.entries()) {
    if (!matchesNode(fault.nodeId, target.nodeId)) continue;
    if (fault.host !== undefined && fault.host !== target.host) continue;
    if (fault.attempts !== undefined && !fault.attempts.includes(target.attempt)) continue;
    if ((draws[i] ?? 0) >= fault.probability) continue;
    return fault;
  }
  return undefined;
}

function matchesNode(rule: ResolvedMockFault['nodeId'], nodeId: string): boolean {
  if (rule === undefined) return true;
  if (typeof rule === 'string') return rule === nodeId;
  if (Array.isArray(rule)) return rule.includes(nodeId);
  // A global or sticky RegExp keeps state between test() calls; start from scratch each time.
  (rule as RegExp).lastIndex = 0;
  return (rule as RegExp).test(nodeId);
}

import { ConfigError } from '@phys/core';
import { createTestRuntime } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { collectResults } from '../src/collect-results.js';
import sweep from '../src/plugin.js';
import { DEFAULT_MAX_POINTS, MAX_POINTS_CEILING } from '../src/spec.js';

describe('sweep plugin', () => {
  it('provides the sweep capability and registers collectResults for rebuilding by identity', async () => {
    const runtime = await createTestRuntime({ plugins: [sweep()] });
    try {
      expect(runtime.plugins.map((p) => [p.name, p.provides])).toEqual([['sweep', ['sweep']]]);
      expect(runtime.stages.get('sweep/collect-results', '1')).toBe(collectResults);
      const rebuilt = runtime.stages.rebuild({
        name: 'sweep/collect-results',
        version: '1',
        config: { metrics: ['loss'] },
      });
      expect(rebuilt.config).toEqual({ points: [], params: [], metrics: ['loss'] });
    } finally {
      await runtime.dispose();
    }
  });

  it('rejects options it does not know', () => {
    expect(() => sweep({ mode: 'grid' } as never)).toThrow(ConfigError);
  });

  it('takes maxPoints, 100,000 by default, and rejects one a sweep cannot hold', () => {
    expect(sweep().options).toEqual({ maxPoints: DEFAULT_MAX_POINTS });
    expect(sweep({ maxPoints: 500_000 }).options).toEqual({ maxPoints: 500_000 });
    for (const maxPoints of [0, 2.5, MAX_POINTS_CEILING + 1]) {
      expect(() => sweep({ maxPoints })).toThrow(/plugins\.sweep\.maxPoints/);
    }
  });
});

import { ConfigError } from '@phys/core';
import { createTestRuntime } from '@phys/testing';
import { describe, expect, it } from 'vitest';
import { collectResults } from '../src/collect-results.js';
import sweep from '../src/plugin.js';

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
});

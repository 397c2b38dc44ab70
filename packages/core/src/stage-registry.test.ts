import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PhysError } from './errors.js';
import { silentLogger } from './logger.js';
import { PolicyBag } from './policy.js';
import { defineStage, type StageContext } from './stage.js';
import { StageRegistry } from './stage-registry.js';

const config = z.object({ amount: z.number().default(1) });
const AddV1 = defineStage({
  name: 'demo/add',
  version: '1',
  config,
  process: (state: number, ctx) => ({ state: state + ctx.config.amount }),
});
const AddV2 = defineStage({
  name: 'demo/add',
  version: '2',
  config,
  process: (state: number, ctx) => ({ state: state + 2 * ctx.config.amount }),
});
const Neg = defineStage({
  name: 'demo/neg',
  config: z.object({}),
  process: (state: number) => ({ state: -state }),
});

function registry(): StageRegistry {
  const r = new StageRegistry();
  r.register(AddV1);
  r.register(AddV2);
  r.register(Neg);
  return r;
}

describe('StageRegistry', () => {
  it('finds definitions by name, and by name and version', () => {
    const r = registry();
    expect(r.get('demo/add', '1')).toBe(AddV1);
    expect(r.get('demo/add', '2')).toBe(AddV2);
    expect(r.get('demo/add')).toBe(AddV2);
    expect(r.has('demo/add')).toBe(true);
    expect(r.has('demo/add', '3')).toBe(false);
    expect(r.list()).toEqual([AddV1, AddV2, Neg]);
  });

  it('rebuilds a stage from its JSON identity', async () => {
    const original = AddV2({ amount: 5 }, { label: 'bump' });
    const ref = JSON.parse(JSON.stringify(original.ref)) as typeof original.ref;
    const rebuilt = registry().rebuild(ref, { label: 'bump' });
    expect(rebuilt.configHash).toBe(original.configHash);
    expect(rebuilt.label).toBe('bump');
    expect(rebuilt.version).toBe('2');
    const ctx: StageContext = {
      config: rebuilt.config,
      policy: PolicyBag.empty,
      signal: new AbortController().signal,
      logger: silentLogger,
      resources: { cpu: 1, gpuIds: [], mpiRanks: 1, memoryBytes: undefined },
      artifacts: { recording: false, write: async () => undefined },
      runId: 'r',
      nodeId: 'bump',
      attempt: 1,
    };
    expect(await rebuilt.process(1, ctx)).toEqual({ state: 11 });
  });

  it('validates the config of a rebuilt stage', () => {
    expect(() =>
      registry().rebuild({ name: 'demo/add', version: '1', config: { amount: 1, typo: 2 } }),
    ).toThrow(/typo: unknown key/);
  });

  it('ignores the same definition registered twice', () => {
    const r = registry();
    r.register(AddV1, 'plugin demo');
    expect(r.list()).toHaveLength(3);
  });

  it('refuses two different definitions under one name and version', () => {
    const Impostor = defineStage({
      name: 'demo/add',
      version: '1',
      config,
      process: (state: number) => ({ state }),
    });
    const r = registry();
    try {
      r.register(Impostor, "plugin 'extras'");
      expect.unreachable();
    } catch (error) {
      expect(PhysError.is(error)).toBe(true);
      expect((error as PhysError).code).toBe('PHYS_STAGE_DUPLICATE');
      expect((error as PhysError).message).toContain("'demo/add@1'");
      expect((error as PhysError).message).toContain("plugin 'extras'");
    }
    expect(r.get('demo/add', '1')).toBe(AddV1);
  });

  it('names the known stages when asked for an unknown one', () => {
    const r = registry();
    try {
      r.get('demo/ad');
      expect.unreachable();
    } catch (error) {
      expect((error as PhysError).code).toBe('PHYS_STAGE_UNKNOWN');
      expect((error as PhysError).message).toContain("Unknown stage 'demo/ad'");
      expect((error as PhysError).message).toContain('demo/add@1, demo/add@2, demo/neg@1');
      expect((error as PhysError).details).toMatchObject({
        known: ['demo/add@1', 'demo/add@2', 'demo/neg@1'],
      });
    }
    expect(() => r.get('demo/add', '9')).toThrow(/Unknown stage 'demo\/add@9'/);
    expect(() => new StageRegistry().get('x')).toThrow(/Known stages: \(none\)/);
  });
});

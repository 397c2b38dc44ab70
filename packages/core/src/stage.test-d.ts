import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { PolicyBag } from './policy.js';
import {
  defineStage,
  type PipelineStage,
  type StageContext,
  type StageDefinition,
  type StageOf,
  type StageResult,
} from './stage.js';

const Propagate = defineStage({
  name: 'optics/propagate',
  version: '1',
  config: z.object({
    distance: z.number(),
    steps: z.number().int().default(100),
    medium: z.object({ n: z.number().default(1) }).default({ n: 1 }),
    mode: z.enum(['paraxial', 'full']).default('paraxial'),
  }),
  process: (state: { field: Float64Array }, ctx) => {
    expectTypeOf(ctx).toEqualTypeOf<
      StageContext<{
        distance: number;
        steps: number;
        medium: { n: number };
        mode: 'paraxial' | 'full';
      }>
    >();
    expectTypeOf(ctx.config.steps).toEqualTypeOf<number>();
    expectTypeOf(ctx.config.mode).toEqualTypeOf<'paraxial' | 'full'>();
    expectTypeOf(ctx.policy).toEqualTypeOf<PolicyBag>();
    expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
    return { state: { field: state.field, energy: 1 }, metrics: { energy: 1 } };
  },
});

type Config = {
  distance: number;
  steps: number;
  medium: { n: number };
  mode: 'paraxial' | 'full';
};
type In = { field: Float64Array };
type Out = { field: Float64Array; energy: number };

describe('defineStage types', () => {
  it('takes the schema input when configuring: defaults are optional, others required', () => {
    Propagate({ distance: 1 });
    Propagate({ distance: 1, steps: 5, medium: {}, mode: 'full' });
    Propagate({ distance: 1 }, { label: 'far' });
    // @ts-expect-error distance has no default
    Propagate({ steps: 5 });
    // @ts-expect-error wrong type
    Propagate({ distance: '1' });
    // @ts-expect-error not a mode
    Propagate({ distance: 1, mode: 'exact' });
    expectTypeOf(Propagate).parameter(0).toEqualTypeOf<
      | {
          distance: number;
          steps?: number | undefined;
          medium?: { n?: number | undefined } | undefined;
          mode?: 'paraxial' | 'full' | undefined;
        }
      | undefined
    >();
  });

  it('carries the parsed config and the state types into the configured stage', () => {
    const stage = Propagate({ distance: 1 });
    expectTypeOf(stage).toEqualTypeOf<PipelineStage<Config, In, Out>>();
    expectTypeOf(stage.config).toEqualTypeOf<Readonly<Config>>();
    expectTypeOf(stage.process).parameter(0).toEqualTypeOf<In>();
    expectTypeOf(stage.process).returns.toEqualTypeOf<
      StageResult<Out> | Promise<StageResult<Out>>
    >();
    expectTypeOf<StageOf<typeof Propagate>>().toEqualTypeOf<PipelineStage<Config, In, Out>>();
    expectTypeOf(Propagate.parseConfig).returns.toEqualTypeOf<Readonly<Config>>();
  });

  it('infers async stages and is assignable to the untyped definition', () => {
    const Load = defineStage({
      name: 'io/load',
      config: z.object({ path: z.string() }),
      process: async (_state: null, ctx) => ({ state: ctx.config.path.length }),
    });
    expectTypeOf(Load({ path: 'a' })).toEqualTypeOf<
      PipelineStage<{ path: string }, null, number>
    >();
    expectTypeOf(Load).toExtend<StageDefinition>();
    expectTypeOf(Load({ path: 'a' })).toExtend<PipelineStage>();
  });

  it('rejects a process that reads a config key the schema does not declare', () => {
    defineStage({
      name: 'demo/bad',
      config: z.object({ a: z.number() }),
      process: (state: number, ctx) => {
        // @ts-expect-error b is not in the schema
        const b: number = ctx.config.b;
        return { state: state + b };
      },
    });
  });

  it('requires metrics to be numbers', () => {
    defineStage({
      name: 'demo/metric',
      config: z.object({}),
      // @ts-expect-error metrics are finite scalars, not arrays
      process: (state: number) => ({ state, metrics: { loss: [1, 2] } }),
    });
  });
});

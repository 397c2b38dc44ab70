import { type DagState, defineStage } from '@phys/core';
import { z } from 'zod';

/** Counts how often each stage ran, by stage name. */
export const calls = new Map<string, number>();
const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

export const Load = defineStage({
  name: 'test/load',
  version: '1',
  config: z.object({ n: z.number().int().min(1).default(4) }),
  process: (_state: unknown, { config }) => {
    count('load');
    return { state: { data: Array.from({ length: config.n }, (_, i) => i + 1) } };
  },
});

export const Train = defineStage({
  name: 'test/train',
  version: '1',
  config: z.object({
    lr: z.number().positive(),
    bs: z.number().int().min(1).default(16),
    optimizer: z
      .object({ momentum: z.number().min(0).max(1).default(0.9) })
      .default({ momentum: 0.9 }),
    tag: z.string().optional(),
  }),
  process: (state: { data: number[] }, { config }) => {
    count('train');
    const sum = state.data.reduce((a, b) => a + b, 0);
    const loss = sum * config.lr + 1 / config.bs + config.optimizer.momentum;
    return { state: { loss, lr: config.lr, weights: new Float64Array([loss]) }, metrics: { loss } };
  },
});

export const Evaluate = defineStage({
  name: 'test/evaluate',
  version: '1',
  config: z.object({}),
  process: (state: { loss: number }) => {
    count('evaluate');
    const accuracy = 1 / (1 + state.loss);
    return { state: { accuracy, loss: state.loss }, metrics: { accuracy } };
  },
});

export const Merge = defineStage({
  name: 'test/merge',
  version: '1',
  config: z.object({}),
  process: (state: DagState) => {
    count('merge');
    let total = 0;
    for (const v of state.inputs.values())
      total += (v as { loss?: number; data?: number[] }).loss ?? 0;
    return { state: { total }, metrics: { total } };
  },
});

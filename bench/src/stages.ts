// The two stages of shared/bench/WORKLOADS.md, written the way a user would write them.
import { DagState, defineStage } from '@phys/core';
import { z } from 'zod';

export interface Payload {
  readonly payload: number;
}

/** Add {amount}: output payload = (sum of the input payloads | the input payload) + amount. */
export const Add = defineStage({
  name: 'bench/add',
  version: '1',
  config: z.object({ amount: z.number().int() }),
  process(state: Payload | DagState, ctx) {
    let sum = 0;
    if (DagState.is(state)) {
      for (const input of state.inputs.values()) sum += (input as Payload).payload;
    } else {
      sum = state.payload;
    }
    return { state: { payload: sum + ctx.config.amount } };
  },
});

/** Burn {iters, seed}: pure CPU; runs in worker threads. */
export const Burn = defineStage({
  name: 'bench/burn',
  version: '1',
  config: z.object({ iters: z.number().int().min(0), seed: z.number().int() }),
  isolation: 'thread',
  process(_state: unknown, ctx) {
    const { iters, seed } = ctx.config;
    let acc = 0;
    const x = seed;
    for (let k = 0; k < iters; k++) acc += Math.sin(x + k * 1e-3);
    return { state: { payload: acc } };
  },
});

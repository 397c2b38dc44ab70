// The stages the scheduler conformance suite submits. This module must not import vitest: job
// processes load it (through the bundled config or a user's config) to rebuild the stages.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CancelledError, defineStage, PhysError, type StageDefinition } from '@phys/core';
import { z } from 'zod';

const GATE_CHECK_MS = 20;

/**
 * `conformance/echo`: scales `values` (a Float64Array) by `scale` and returns the whole input
 * beside it, with metrics and provenance, so a round trip through a scheduler can be compared
 * with what the stage computes in process.
 * @public
 */
export const ConformanceEcho = defineStage({
  name: 'conformance/echo',
  version: '1',
  description: 'Scales a Float64Array and echoes its input (scheduler conformance suite)',
  config: z.object({ scale: z.number().default(2), tag: z.string().default('echo') }),
  process: (state: { readonly values?: Float64Array }, ctx) => {
    const input = state.values ?? new Float64Array(0);
    const values = new Float64Array(input.length);
    let sum = 0;
    for (let i = 0; i < input.length; i++) {
      values[i] = (input[i] as number) * ctx.config.scale;
      sum += values[i] as number;
    }
    return {
      state: {
        values,
        input: state,
        tag: ctx.config.tag,
        nested: { depth: { list: [1, 'two', { three: 3 }], empty: {} } },
      },
      metrics: { count: values.length, sum: Number.isFinite(sum) ? sum : 0 },
      provenance: {
        stage: 'conformance/echo',
        tag: ctx.config.tag,
        runId: ctx.runId,
        nodeId: ctx.nodeId,
        attempt: ctx.attempt,
        policy: ctx.policy.toJSON(),
      },
    };
  },
});

/**
 * `conformance/fail`: throws. Without `code` a plain `Error` (which every entry point reports as
 * `PHYS_STAGE_FAILED`); with `code` a `PhysError` carrying that code and `retryable`.
 * @public
 */
export const ConformanceFail = defineStage({
  name: 'conformance/fail',
  version: '1',
  description: 'Throws the configured error (scheduler conformance suite)',
  config: z.object({
    message: z.string(),
    code: z.string().optional(),
    retryable: z.boolean().default(false),
  }),
  process: (_state: unknown, ctx): never => {
    const { message, code, retryable } = ctx.config;
    if (code === undefined) throw new Error(message);
    throw new PhysError(code, message, { retryable, details: { conformance: true } });
  },
});

/**
 * `conformance/sleep`: writes `marker` when it starts, then waits until the file `gate` exists,
 * `seconds` have passed, or it is aborted. A gate makes "the task is running" a state the suite
 * controls instead of a race against the clock.
 * @public
 */
export const ConformanceSleep = defineStage({
  name: 'conformance/sleep',
  version: '1',
  description: 'Waits for a gate file or a number of seconds (scheduler conformance suite)',
  config: z.object({
    seconds: z.number().nonnegative().default(30),
    gate: z.string().optional(),
    marker: z.string().optional(),
  }),
  process: async (_state: unknown, ctx) => {
    const { seconds, gate, marker } = ctx.config;
    if (marker !== undefined) {
      await mkdir(dirname(marker), { recursive: true });
      await writeFile(marker, `${process.pid}\n`);
    }
    const deadline = Date.now() + seconds * 1000;
    const { signal } = ctx;
    while (true) {
      if (signal.aborted) {
        throw PhysError.is(signal.reason)
          ? signal.reason
          : new CancelledError(`Node '${ctx.nodeId}' was cancelled.`, { cause: signal.reason });
      }
      if (gate !== undefined && existsSync(gate)) return { state: { released: true } };
      if (Date.now() >= deadline) return { state: { released: false } };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, GATE_CHECK_MS);
        signal.addEventListener('abort', done, { once: true });
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  },
});

/**
 * `conformance/resources`: returns the resources the stage was granted (`ctx.resources`) and
 * the `CUDA_VISIBLE_DEVICES` it sees.
 * @public
 */
export const ConformanceResources = defineStage({
  name: 'conformance/resources',
  version: '1',
  description: 'Reports the granted resources (scheduler conformance suite)',
  config: z.object({}),
  process: (_state: unknown, ctx) => ({
    state: {
      cpu: ctx.resources.cpu,
      gpuIds: [...ctx.resources.gpuIds],
      mpiRanks: ctx.resources.mpiRanks,
      memoryBytes: ctx.resources.memoryBytes ?? null,
      cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
    },
  }),
});

/**
 * The four stages the conformance suite submits. A scheduler that rebuilds stages from its own
 * config (instead of {@link conformanceConfigFile}) needs them in that config's `stages`:
 * `stages: [...conformanceStages, ...yourStages]`.
 * @public
 */
export const conformanceStages: readonly StageDefinition[] = Object.freeze([
  ConformanceEcho,
  ConformanceFail,
  ConformanceSleep,
  ConformanceResources,
]);

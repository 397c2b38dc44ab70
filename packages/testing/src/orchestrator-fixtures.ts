// The stages and pipelines the orchestrator conformance suite submits. This module must not
// import vitest: worker threads and servers load it through the config to rebuild the stages.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  defineStage,
  PhysError,
  type PipelineDeclaration,
  type PluginEntry,
  type StageDefinition,
} from '@phys/core';
import { z } from 'zod';

function numberOf(state: unknown): number {
  if (typeof state === 'number') return state;
  const value = (state as { value?: unknown } | null | undefined)?.value;
  return typeof value === 'number' ? value : 0;
}

function pathParam(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * `conformance/orchestrator-add`: adds the run's `increment` param (default 1) to its input
 * (a number or `{ value }`) and returns `{ value }` with the metric `value`.
 * @public
 */
export const OrchestratorAdd = defineStage({
  name: 'conformance/orchestrator-add',
  version: '1',
  description: 'Adds the increment param (orchestrator conformance suite)',
  config: z.object({}),
  process: (state: unknown, ctx) => {
    const increment = Number(ctx.policy.get('increment', 1));
    const value = numberOf(state) + increment;
    return { state: { value }, metrics: { value } };
  },
});

/**
 * `conformance/orchestrator-block`: writes the run's `marker` param (a file path) when it
 * starts, then blocks its thread, synchronously, until the file named by the `gate` param exists
 * or `maxSeconds` have passed. It never looks at its AbortSignal: only a run that terminates
 * its thread (or process) stops it early.
 * @public
 */
export const OrchestratorBlock = defineStage({
  name: 'conformance/orchestrator-block',
  version: '1',
  description: 'Blocks its thread until a gate file exists (orchestrator conformance suite)',
  config: z.object({ maxSeconds: z.number().positive().default(300) }),
  process: (_state: unknown, ctx) => {
    const marker = pathParam(ctx.policy.get('marker'));
    const gate = pathParam(ctx.policy.get('gate'));
    if (marker !== undefined) writeFileSync(marker, `${process.pid}\n`);
    const deadline = Date.now() + ctx.config.maxSeconds * 1000;
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (Date.now() < deadline) {
      if (gate !== undefined && existsSync(gate)) return { state: { released: true } };
      Atomics.wait(cell, 0, 0, 20);
    }
    return { state: { released: false } };
  },
});

/**
 * `conformance/orchestrator-fail`: throws a `PhysError` with code `PHYS_CONFORMANCE_FAILED`
 * (not retryable).
 * @public
 */
export const OrchestratorFail = defineStage({
  name: 'conformance/orchestrator-fail',
  version: '1',
  description: 'Fails (orchestrator conformance suite)',
  config: z.object({}),
  process: (): never => {
    throw new PhysError('PHYS_CONFORMANCE_FAILED', 'This stage always fails, as the suite asks.');
  },
});

/**
 * `conformance/orchestrator-flaky`: appends a line to the file named by the run's `counter`
 * param and throws a plain `Error` (a stage failure, which a retry policy retries) until the
 * file has `succeedOn` lines.
 * @public
 */
export const OrchestratorFlaky = defineStage({
  name: 'conformance/orchestrator-flaky',
  version: '1',
  description: 'Fails until its nth execution (orchestrator conformance suite)',
  config: z.object({ succeedOn: z.number().int().positive().default(2) }),
  process: (_state: unknown, ctx) => {
    const counter = pathParam(ctx.policy.get('counter'));
    if (counter === undefined) throw new Error("the 'counter' param (a file path) is missing");
    appendFileSync(counter, `${ctx.runId}\n`);
    const executions = readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;
    if (executions < ctx.config.succeedOn) {
      throw new Error(`execution ${executions} fails; execution ${ctx.config.succeedOn} succeeds`);
    }
    return { state: { executions }, metrics: { executions } };
  },
});

/** The stages of the orchestrator conformance pipelines. @public */
export const orchestratorConformanceStages: readonly StageDefinition[] = Object.freeze([
  OrchestratorAdd,
  OrchestratorBlock,
  OrchestratorFail,
  OrchestratorFlaky,
]);

/**
 * The pipelines {@link describeOrchestratorConformance} submits, by name:
 * `conformance-quick` (sequential: 1 + increment + increment), `conformance-dag` (a → b,
 * inline), `conformance-slow` (one node isolated in a worker thread that blocks until the
 * `gate` param's file exists), `conformance-fail` (fails with `PHYS_CONFORMANCE_FAILED`) and
 * `conformance-flaky` (fails until its second execution).
 * @public
 */
export function orchestratorConformancePipelines(): Record<string, PipelineDeclaration> {
  return {
    'conformance-quick': {
      description: 'Two stages adding the increment param to 1',
      stages: [OrchestratorAdd({}, { label: 'one' }), OrchestratorAdd({}, { label: 'two' })],
      initialState: 1,
    },
    'conformance-dag': {
      kind: 'dag',
      description: 'a → b, each adding the increment param, inline',
      initialState: 1,
      nodes: [
        { id: 'a', stage: OrchestratorAdd({}), isolation: 'inline' },
        { id: 'b', stage: OrchestratorAdd({}), deps: ['a'], isolation: 'inline' },
      ],
    },
    'conformance-slow': {
      kind: 'dag',
      description: 'One node blocking a worker thread until the gate file exists',
      nodes: [{ id: 'block', stage: OrchestratorBlock({}), isolation: 'thread' }],
    },
    'conformance-fail': {
      description: 'One stage that always fails',
      stages: [OrchestratorFail({}, { label: 'fail' })],
    },
    'conformance-flaky': {
      description: 'One stage that fails on its first execution',
      stages: [OrchestratorFlaky({}, { label: 'flaky' })],
    },
  };
}

/**
 * A config (to export from a `phys.config.*` file) declaring the conformance stages and
 * pipelines with `plugins`, which must provide a DAG executor, e.g.
 * `export default defineConfig(orchestratorConformanceConfig(['executor-dag']))`. The slow
 * pipeline isolates a node in a worker thread, which rebuilds its stage from that file.
 * @public
 */
export function orchestratorConformanceConfig(plugins: readonly PluginEntry[]): {
  readonly plugins: readonly PluginEntry[];
  readonly stages: readonly StageDefinition[];
  readonly pipelines: Record<string, PipelineDeclaration>;
} {
  return {
    plugins,
    stages: orchestratorConformanceStages,
    pipelines: orchestratorConformancePipelines(),
  };
}

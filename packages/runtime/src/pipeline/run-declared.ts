import {
  asPolicy,
  getMetricsCollectors,
  HooksToken,
  MetricsCollectorToken,
  type PhysConfig,
  type PipelineHook,
  type PolicyLike,
  type SequentialPipelineDeclaration,
  type Token,
} from '@phys/core';
import { metricsHook } from './metrics-hook.js';
import {
  type PipelineResult,
  type PipelineRunOptions,
  SequentialPipeline,
} from './sequential-pipeline.js';

/** What a declared sequential run needs of its runtime. */
export interface SequentialHost {
  readonly config: PhysConfig;
  readonly logger: import('@phys/core').Logger;
  resolveAll<T>(token: Token<T>): T[];
}

/** Options of {@link runSequentialDeclaration}. */
export interface DeclaredRunOptions extends PipelineRunOptions {
  /** Replaces the declared initial state (a function is called, and awaited). */
  readonly initialState?: unknown;
}

/**
 * Runs sequential pipeline `declaration` as `name` with the hooks plugins registered under
 * `HooksToken` (then the run's own) and the metrics collectors; the run's policy is laid over
 * the pipeline's, which is laid over the config's (later keys win).
 */
export async function runSequentialDeclaration<TOut>(
  host: SequentialHost,
  name: string,
  declaration: SequentialPipelineDeclaration,
  run: DeclaredRunOptions = {},
): Promise<PipelineResult<TOut>> {
  const declared = 'initialState' in run ? run.initialState : declaration.initialState;
  const state: unknown =
    typeof declared === 'function' ? await (declared as () => unknown)() : declared;
  const pipeline = new SequentialPipeline(declaration.stages, { name });
  const policy = mergePolicies(host.config.policy, declaration.policy, run.policy);
  const hooks: PipelineHook[] = [...host.resolveAll(HooksToken), ...(run.hooks ?? [])];
  // Metrics collectors of plugins and those set with setMetricsCollector, each once.
  const collectors = [
    ...new Set([...host.resolveAll(MetricsCollectorToken), ...getMetricsCollectors()]),
  ];
  if (collectors.length > 0) hooks.push(metricsHook(collectors, declaration.stages));
  const { initialState: _ignored, ...rest } = run;
  return pipeline.run(state, {
    ...rest,
    logger: run.logger ?? host.logger,
    hooks,
    ...(policy === undefined ? {} : { policy }),
  }) as Promise<PipelineResult<TOut>>;
}

/** Config policy, then the pipeline's, then the run's: later keys win. */
export function mergePolicies(...layers: (PolicyLike | undefined)[]): PolicyLike | undefined {
  let merged: ReturnType<typeof asPolicy>;
  for (const layer of layers) {
    if (layer === undefined) continue;
    merged = merged === undefined ? asPolicy(layer) : merged.with(layer);
  }
  return merged;
}

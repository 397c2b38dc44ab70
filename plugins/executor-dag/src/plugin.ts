import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  CacheToken,
  CONFIG_FILE_NAMES,
  type Container,
  definePlugin,
  type ExecuteRequest,
  type ExecuteResult,
  ExecutorToken,
  getMetricsCollectors,
  HooksToken,
  LoggerToken,
  MetricsCollectorToken,
  PackagerToken,
  type PhysPlugin,
  type PipelineExecutor,
  type PluginContext,
  parsePluginOptions,
  type Scheduler,
  SchedulerToken,
  type Token,
} from '@phys/core';
import { DagExecutor } from './dag-executor.js';
import { LocalScheduler, type LocalSchedulerOptions } from './local-scheduler.js';
import {
  type ExecutorDagOptions,
  executorDagOptionsSchema,
  type ResolvedExecutorDagOptions,
} from './options.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'executor-dag': ExecutorDagOptions;
  }
}

function configFileOf(ctx: PluginContext<ResolvedExecutorDagOptions>): string | undefined {
  const given = ctx.options.configFile ?? ctx.configFile;
  if (given !== undefined) return isAbsolute(given) ? given : resolve(ctx.configDir, given);
  return CONFIG_FILE_NAMES.map((name) => join(ctx.configDir, name)).find((path) =>
    existsSync(path),
  );
}

function resolveOptional<T>(container: Container, token: Token<T>): T | undefined {
  return container.isRegistered(token, true) ? container.resolve(token) : undefined;
}

function resolveAll<T>(container: Container, token: Token<T>): T[] {
  return container.isRegistered(token, true) ? container.resolveAll(token) : [];
}

/**
 * The `executor-dag` plugin: provides the DAG executor (`ExecutorToken`, used by `phys run`)
 * and a {@link LocalScheduler} under `SchedulerToken` when no scheduler plugin registers one
 * (see the `provideScheduler` option).
 * @public
 */
export default function executorDag(
  options?: ExecutorDagOptions,
): PhysPlugin<ResolvedExecutorDagOptions> {
  const parsed = parsePluginOptions('executor-dag', executorDagOptionsSchema, options);
  let scheduler: LocalScheduler | undefined;
  let configFile: string | undefined;
  const localScheduler = (): LocalScheduler => {
    if (scheduler === undefined) {
      const schedulerOptions: LocalSchedulerOptions = {
        ...(parsed.maxWorkers === undefined ? {} : { maxWorkers: parsed.maxWorkers }),
        ...(parsed.maxCpu === undefined ? {} : { maxCpu: parsed.maxCpu }),
        ...(parsed.maxGpu === undefined ? {} : { maxGpu: parsed.maxGpu }),
        ...(parsed.gpuIds === undefined ? {} : { gpuIds: parsed.gpuIds }),
        ...(parsed.maxMemory === undefined ? {} : { maxMemory: parsed.maxMemory }),
        ...(configFile === undefined ? {} : { configFile }),
        ...(parsed.workDir === undefined ? {} : { workDir: parsed.workDir }),
        keepWorkDirs: parsed.keepWorkDirs,
        graceSeconds: parsed.graceSeconds,
      };
      scheduler = new LocalScheduler(schedulerOptions);
    }
    return scheduler;
  };
  const executor: PipelineExecutor = {
    name: 'executor-dag',
    async execute(request: ExecuteRequest): Promise<ExecuteResult> {
      const { container } = request;
      const chosen: Scheduler = resolveOptional(container, SchedulerToken) ?? localScheduler();
      const cache = resolveOptional(container, CacheToken);
      const logger = resolveOptional(container, LoggerToken);
      const packager = resolveOptional(container, PackagerToken);
      const dag = new DagExecutor({
        scheduler: chosen,
        ...(cache === undefined ? {} : { cache }),
        ...(packager === undefined ? {} : { packager }),
        hooks: resolveAll(container, HooksToken),
        // The plugins' collectors, and those set in code with setMetricsCollector (the
        // orchestration guide's form), each once.
        metrics: [
          ...new Set([...resolveAll(container, MetricsCollectorToken), ...getMetricsCollectors()]),
        ],
        failureMode: parsed.failureMode,
        strict: parsed.strict,
        isolation: parsed.isolation,
        ...(configFile === undefined ? {} : { configFile }),
        ...(logger === undefined ? {} : { logger }),
        name: request.pipeline,
      });
      const initial =
        typeof request.initialState === 'function'
          ? await (request.initialState as () => unknown)()
          : request.initialState;
      const result = await dag.run(initial, request.nodes, {
        pipeline: request.pipeline,
        ...(request.policy === undefined ? {} : { policy: request.policy }),
        ...(request.signal === undefined ? {} : { signal: request.signal }),
        ...(request.runId === undefined ? {} : { runId: request.runId }),
        ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
        ...(request.recordArtifacts === true && request.recorder !== undefined
          ? { recordArtifacts: true, recorder: request.recorder }
          : {}),
      });
      return {
        status: result.status,
        nodes: result.nodes,
        metrics: result.metrics,
        artifacts: result.artifacts,
        outputs: result.outputs,
        durationSeconds: result.durationSeconds,
        runId: result.runId,
        error: result.error,
        provenance: result.provenance,
      } as ExecuteResult;
    },
  };
  return definePlugin<ResolvedExecutorDagOptions>({
    name: 'executor-dag',
    provides: parsed.provideScheduler === true ? ['executor', 'scheduler'] : ['executor'],
    options: parsed,
    register(ctx) {
      configFile = configFileOf(ctx);
      ctx.container.register(ExecutorToken, { useValue: executor });
      if (parsed.provideScheduler === true) {
        ctx.container.register(SchedulerToken, { useFactory: () => localScheduler() });
      }
    },
    async init(ctx) {
      // Every plugin's register has run by now, whatever its place in the config, so a
      // scheduler plugin listed after this one is already visible here.
      if (
        parsed.provideScheduler === undefined &&
        !ctx.container.isRegistered(SchedulerToken, true)
      ) {
        ctx.container.register(SchedulerToken, { useFactory: () => localScheduler() });
      }
    },
    async dispose() {
      const s = scheduler;
      scheduler = undefined;
      await s?.close();
    },
  });
}

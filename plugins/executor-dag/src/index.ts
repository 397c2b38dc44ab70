// @phys/executor-dag — DagExecutor, DAG validation, LocalScheduler, command stages, and the
// `executor-dag` plugin that provides them to phys.config.ts.

export { dagCacheKeys } from './cache-keys.js';
export type {
  CommandContext,
  CommandResult,
  CommandSpec,
  CommandStageSpec,
  MpiLauncher,
} from './command-stage.js';
// command stages
export { defineCommandStage } from './command-stage.js';
export type { DagProblem, DagProblemKind } from './compile.js';
export type { DagExecutorOptions, DagRunOptions, FailureMode } from './dag-executor.js';
// executing DAGs
export { DagExecutor } from './dag-executor.js';
export type { LocalSchedulerOptions, RemoteJob } from './local-scheduler.js';
// scheduling
export { LocalScheduler } from './local-scheduler.js';
export type { ExecutorDagOptions, ResolvedExecutorDagOptions } from './options.js';
export { executorDagOptionsSchema } from './options.js';
// the plugin
export { default } from './plugin.js';
export type { ThreadPoolStats, ThreadResourceLimits } from './public-types.js';
export type {
  DagCacheSummary,
  DagRunProvenance,
  ModelPackageRecord,
  NodeRunRecord,
  SkipReason,
} from './run-result.js';
export { DagRunResult } from './run-result.js';
export { threadPoolStats } from './thread-pool-stats.js';

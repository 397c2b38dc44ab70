// @phys/core/node — loading phys.config.* and running it: the config loader, the plugin
// registry and the runtime. Node-only; pulls in cosmiconfig and jiti.

// task envelopes
export { taskEnvelopeEntry } from './envelope/entry.js';
export type {
  ReadResult,
  ResultEnvelope,
  TaskEnvelope,
  TaskEnvelopeInit,
} from './envelope/envelope.js';
export {
  envelopePath,
  jobGrant,
  RESULT_ENVELOPE_FORMAT,
  readResultEnvelope,
  readTaskEnvelope,
  readTaskInput,
  TASK_ENVELOPE_FORMAT,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from './envelope/envelope.js';
export type { ExecuteTaskInput, PortableResult } from './envelope/execute-task.js';
export { executeTask } from './envelope/execute-task.js';
export { resultOutcome } from './envelope/result-outcome.js';
export { runTaskEnvelope, TASK_EXIT_CODES } from './envelope/run-envelope.js';
// the kit of scheduler plugins: job bookkeeping, job files, the plugin shape
export type { LogTailOptions } from './node/job-files.js';
export { logTail, safeFileName } from './node/job-files.js';
export type { Deferred, JobTableOptions, TrackedJob } from './node/job-table.js';
export { deferred, JobTable } from './node/job-table.js';
// config loading
export type { LoadConfigOptions, LoadedConfig } from './node/load-config.js';
export { CONFIG_SEARCH_PLACES, loadConfig } from './node/load-config.js';
// rebuilding stages by identity (worker threads, cluster jobs, `phys exec`)
export type { LoadRuntimeOptions } from './node/rebuild-stage.js';
export { disposeRuntimes, loadRuntime, rebuildStage } from './node/rebuild-stage.js';
// runtime and plugin registry
export type {
  PhysRuntime,
  RuntimeOptions,
  RuntimeRunOptions,
  RuntimeSource,
} from './node/runtime.js';
export { createRuntime } from './node/runtime.js';
export type {
  SchedulerPluginDefinition,
  SchedulerPluginOptions,
  SchedulerPluginSetup,
} from './node/scheduler-plugin.js';
export { defineSchedulerPlugin } from './node/scheduler-plugin.js';

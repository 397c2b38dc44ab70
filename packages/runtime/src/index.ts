// @phys/runtime — the host of phys: loads phys.config.* (cosmiconfig, jiti), loads plugins into a
// tsyringe child container, runs pipelines, rebuilds stages by identity in worker threads and
// cluster jobs, and executes task envelopes. Node-only.

// DI (the only package of ours that imports tsyringe)
export type { DependencyContainer, InjectionToken } from './container.js';
export { inject, injectAll, injectable, Lifecycle } from './container.js';
// task envelopes executed in this process (`phys exec`, the task entry)
export { taskEnvelopeEntry } from './envelope/entry.js';
export type { ExecuteTaskInput, PortableResult } from './envelope/execute-task.js';
export { executeTask } from './envelope/execute-task.js';
export { runTaskEnvelope, TASK_ABORT_ACK_ENV } from './envelope/run-envelope.js';
// artifacts on disk
export { FileArtifactRecorder } from './file-artifact-recorder.js';
// config loading
export type { LoadConfigOptions, LoadedConfig } from './load-config.js';
export { loadConfig } from './load-config.js';
// sequential pipelines (in process)
export type {
  PipelineResult,
  PipelineRunOptions,
  SequentialPipelineOptions,
} from './pipeline/sequential-pipeline.js';
export { SequentialPipeline } from './pipeline/sequential-pipeline.js';
// rebuilding stages by identity (worker threads, cluster jobs, `phys exec`)
export type { LoadRuntimeOptions } from './rebuild-stage.js';
export { disposeRuntimes, loadRuntime, rebuildStage } from './rebuild-stage.js';
// runtime and plugin registry
export type {
  PhysRuntime,
  RuntimeOptions,
  RuntimeRunOptions,
  RuntimeSource,
} from './runtime.js';
export { createRuntime } from './runtime.js';

// @phys/runtime — the host of phys: loads phys.config.* (cosmiconfig, jiti), loads plugins into a
// tsyringe child container, runs pipelines, rebuilds stages by identity in worker threads and
// cluster jobs, and executes task envelopes. Node-only.

// DI (the only package of ours that imports tsyringe)
export type { DependencyContainer, InjectionToken } from './container.js';
export { inject, injectAll, injectable, Lifecycle } from './container.js';
// task envelopes executed in this process (`phys exec`, the task entry)
export { taskEnvelopeEntry } from './envelope/entry.js';
export type { ExecuteTaskInput, PortableResult } from './envelope/execute-task.js';
export { executeTask, executeTaskEager } from './envelope/execute-task.js';
export { runTaskEnvelope, TASK_ABORT_ACK_ENV } from './envelope/run-envelope.js';
// artifacts on disk
export { FileArtifactRecorder } from './file-artifact-recorder.js';
// config loading
export type { LoadConfigOptions, LoadedConfig } from './load-config.js';
export { loadConfig } from './load-config.js';
// orchestration: submitted runs, their store and their events
export type {
  ExecuteRunOptions,
  RunLogLine,
  RunOutcome,
} from './orchestrator/execute-run.js';
export { executeRun } from './orchestrator/execute-run.js';
export type { ArtifactReference } from './orchestrator/json-safe.js';
export { toJsonSafe } from './orchestrator/json-safe.js';
export type {
  ExecuteContext,
  LocalOrchestratorOptions,
  RecoveryReport,
  SubmittedRun,
} from './orchestrator/local-orchestrator.js';
export { LocalOrchestrator } from './orchestrator/local-orchestrator.js';
export { MemoryRunStore } from './orchestrator/memory-run-store.js';
export type { InsertResult, NewRunEvent, RunStore } from './orchestrator/run-store.js';
// sequential pipelines (in process)
export type {
  PipelineResult,
  PipelineRunOptions,
  SequentialPipelineOptions,
} from './pipeline/sequential-pipeline.js';
export { SequentialPipeline } from './pipeline/sequential-pipeline.js';
// process groups (also `@phys/runtime/process-group`, which loads nothing else)
export type { SignalableProcess } from './process-group.js';
export { killProcessGroup } from './process-group.js';
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
export { createRuntime, isPhysRuntime } from './runtime.js';
export { ManualClock } from './schedules/manual-clock.js';
// schedules
export type {
  MisfirePolicy,
  OverlapPolicy,
  ResolvedSchedule,
  ScheduleHandle,
} from './schedules/parse-schedule.js';
export { configSchedules, SCHEDULE_DEFAULTS, schedule } from './schedules/parse-schedule.js';
export type {
  ScheduleClock,
  ScheduleRunnerOptions,
  ScheduleStatus,
} from './schedules/schedule-runner.js';
export { ScheduleRunner, systemClock } from './schedules/schedule-runner.js';
export type {
  FireOutcome,
  ScheduleFire,
  ScheduleState,
  ScheduleStore,
} from './schedules/schedule-store.js';
export { MemoryScheduleStore } from './schedules/schedule-store.js';
// "did you mean" for names a user typed (pipelines, plugins, config keys)
export { closestNames, didYouMean } from './suggest.js';

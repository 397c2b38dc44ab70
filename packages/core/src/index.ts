// @phys/core — contracts, state hashing and codecs, stage configs, sequential pipelines,
// plugin definitions. Cheap to import from phys.config.ts; loading lives in `@phys/core/node`.

export type {
  ArtifactData,
  ArtifactRecorder,
  ArtifactRef,
  ArtifactWriter,
  LazyArtifact,
} from './artifacts.js';
export { FileArtifactRecorder } from './artifacts.js';
export type {
  ComputeDagKeysOptions,
  DagKeyInputs,
  KeyChangeReason,
  NodeCacheKey,
} from './cache-keys/dag-keys.js';
export {
  codeFingerprint,
  computeDagKeys,
  DAG_KEY_FORMAT,
  dagCacheKey,
  explainKeyChange,
  formatKeyChange,
  KEY_INPUTS_FIELD,
} from './cache-keys/dag-keys.js';
export type {
  DagPlan,
  LineageRecord,
  LineageSource,
  PlanDagOptions,
  PlannedNode,
} from './cache-keys/plan.js';
export { planDag } from './cache-keys/plan.js';
export type { Cache, CacheEntry, CacheStats } from './contracts/cache.js';
export type {
  Orchestrator,
  OrchestratorRetryPolicy,
  RunPipelineOptions,
  SubmissionResult,
  WaitOptions,
} from './contracts/orchestrator.js';
export { isRetryableCode, retryDelaySeconds, retryPolicy } from './contracts/orchestrator.js';
export type {
  JobHandle,
  Scheduler,
  SchedulerCapabilities,
  SchedulerTask,
  TaskOutcome,
} from './contracts/scheduler.js';
export type {
  DependencyContainer,
  ExecuteRequest,
  ExecuteResult,
  InjectionToken,
  ModelPackageInfo,
  ModelPackager,
  PipelineExecutor,
  ProgressEvent,
  Token,
} from './di.js';
export {
  CacheToken,
  createToken,
  ExecutorToken,
  HooksToken,
  inject,
  injectAll,
  injectable,
  Lifecycle,
  LoggerToken,
  MetricsCollectorToken,
  OrchestratorToken,
  PackagerToken,
  SchedulerToken,
  StageRegistryToken,
} from './di.js';
export type {
  ConfigIssue,
  PhysErrorCode,
  PhysErrorOptions,
  SerializedPhysError,
} from './errors.js';
export {
  CancelledError,
  ConfigError,
  DagValidationError,
  deserializeError,
  formatIssues,
  PhysError,
  PluginError,
  ResourceError,
  SchedulerError,
  StageConfigError,
  StageContractError,
  StageExecutionError,
  StateError,
  serializeError,
  TimeoutError,
  UsageError,
} from './errors.js';
export type {
  ErrorEvent,
  HookFailure,
  PipelineEndEvent,
  PipelineHook,
  PipelineStartEvent,
  StepEndEvent,
  StepStartEvent,
} from './hooks.js';
export { HookRunner } from './hooks.js';
export type { Logger, LogLevel } from './logger.js';
export { createConsoleLogger, silentLogger } from './logger.js';
export type {
  MetricLabels,
  MetricsCollector,
  NodeEndMetric,
  NodeStartMetric,
  RetryMetric,
  RunEndMetric,
  RunStartMetric,
} from './metrics.js';
export {
  ConsoleMetricsCollector,
  getMetricsCollectors,
  MetricsFanout,
  setMetricsCollector,
} from './metrics.js';
export type { Isolation, NodeRetryPolicy, NodeSpec } from './node-spec.js';
export type { ArrayPreview, RunProvenance, StageProvenance } from './pipeline/accumulator.js';
export { inlineOrPreview, RunAccumulator } from './pipeline/accumulator.js';
export type {
  PipelineResult,
  PipelineRunOptions,
  SequentialPipelineOptions,
} from './pipeline/sequential-pipeline.js';
export { SequentialPipeline } from './pipeline/sequential-pipeline.js';
export type {
  CheckedConfig,
  CheckPluginEntry,
  ConfigEnv,
  DagPipelineDeclaration,
  PhysConfig,
  PhysPluginOptionsMap,
  PipelineDeclaration,
  PluginEntry,
  SequentialPipelineDeclaration,
} from './plugin/define-config.js';
export { defineConfig } from './plugin/define-config.js';
export type {
  Capability,
  PhysPlugin,
  PhysPluginFactory,
  PluginContext,
  PluginDefinition,
} from './plugin/define-plugin.js';
export {
  definePlugin,
  isPhysPlugin,
  PLUGIN_API_VERSION,
  SINGLE_VALUED_CAPABILITIES,
} from './plugin/define-plugin.js';
export { parsePluginOptions } from './plugin/parse-plugin-options.js';
export type { PolicyLike } from './policy.js';
export { asPolicy, deepFreeze, PolicyBag } from './policy.js';
export type { NodeResources, ResourceSpec } from './resources.js';
export {
  DEFAULT_RESOURCES,
  normalizeResources,
  parseCpu,
  parseMemory,
  parseWallTime,
  ResourceRequirements,
  resources,
} from './resources.js';
export type {
  ArtifactValue,
  GrantedResources,
  PipelineStage,
  StageContext,
  StageDefinition,
  StageFactory,
  StageOf,
  StageOptions,
  StageRef,
  StageResult,
  StageSpec,
} from './stage.js';
export { defineStage, isStage, isStageDefinition } from './stage.js';
export type { StageConfigSchema } from './stage-config.js';
export { formatPath, parseStageConfig, strictSchema, zodIssues } from './stage-config.js';
export { StageRegistry } from './stage-registry.js';
export type { DecodeStateOptions } from './state/codec.js';
export { decodeState, encodeState } from './state/codec.js';
export type { StateCodec } from './state/codec-registry.js';
export { registerStateCodec, unregisterStateCodec } from './state/codec-registry.js';
export { DagState } from './state/dag-state.js';
export { hashDagInputs, hashState, hashStateBytes } from './state/hash.js';
export {
  ExecutionStatus,
  isFailed,
  isSuccessful,
  isTerminal,
  NodeStatus,
  parseStatus,
} from './status.js';

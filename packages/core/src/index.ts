// @phys/core — the contracts of phys: stages and configs, state (hash, codec, DagState), node
// specs, statuses, resources, errors, hooks, metrics events, plugins and capability tokens.
// Cheap to import from phys.config.ts: its own modules and zod. The host is `@phys/runtime`.

export type { ArrayPreview, RunProvenance, StageProvenance } from './accumulator.js';
export { inlineOrPreview, RunAccumulator } from './accumulator.js';
export type {
  ArtifactData,
  ArtifactRecorder,
  ArtifactRef,
  ArtifactWriter,
  LazyArtifact,
} from './artifacts.js';
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
export type {
  Cache,
  CacheClearReport,
  CacheEntry,
  CacheEntryInfo,
  CacheGcReport,
  CachePutResult,
  CacheStats,
  CacheVerifyReport,
  GetOrComputeOptions,
  GetOrComputeResult,
  MaintainableCache,
  SingleFlightCache,
} from './contracts/cache.js';
export { isMaintainableCache, isSingleFlightCache } from './contracts/cache.js';
export type {
  NamedPipeline,
  Orchestrator,
  OrchestratorRetryPolicy,
  RunEvent,
  RunFilter,
  RunNodeRecord,
  RunPage,
  RunPipelineOptions,
  RunRecord,
  RunTrigger,
  SubmissionResult,
  WaitOptions,
} from './contracts/orchestrator.js';
export type {
  JobHandle,
  Scheduler,
  SchedulerCapabilities,
  SchedulerTask,
  TaskOutcome,
} from './contracts/scheduler.js';
export type { DagIndex, DagProblem, DagProblemKind, IndexDagOptions } from './dag/validate-dag.js';
export { dagValidationError, indexDag, validateDag } from './dag/validate-dag.js';
export type {
  ConfigIssue,
  ErrorClass,
  JobFailure,
  JobFailureCode,
  JobFailureReason,
  PhysErrorCode,
  PhysErrorOptions,
  SerializedPhysError,
  TimeoutErrorOptions,
} from './errors.js';
export {
  brandError,
  CancelledError,
  ConfigError,
  DagValidationError,
  deserializeError,
  formatIssues,
  JOB_FAILURE_CODES,
  JobFailureError,
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
  CacheMetric,
  MetricLabels,
  MetricsCollector,
  NodeEndMetric,
  NodeStartMetric,
  NodeSummaryBuckets,
  NodeSummaryMetric,
  RetryMetric,
  RunActivity,
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
export type {
  CheckPluginEntry,
  ConfigEnv,
  ConfigFunction,
  DagPipelineDeclaration,
  PhysConfig,
  PhysConfigInput,
  PhysPluginOptionsMap,
  PipelineDeclaration,
  PluginEntry,
  SequentialPipelineDeclaration,
} from './plugin/define-config.js';
export { CONFIG_FILE_NAMES, defineConfig } from './plugin/define-config.js';
export type {
  Capability,
  CliArgument,
  CliCommand,
  CliCommandContext,
  CliCommandHandler,
  CliCommandModule,
  CliDagRun,
  CliDagRunResult,
  CliFormat,
  CliOption,
  CliRuntime,
  CliWritable,
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
export type { RetryPolicy } from './retry.js';
export { retryDelaySeconds, retryPolicy, retryPolicyIssues, shouldRetry } from './retry.js';
export type {
  GuideScheduleSpec,
  ScheduleDeclaration,
  ScheduleSettings,
  ScheduleSpec,
  ScheduleWhen,
} from './schedule.js';
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
export { TASK_EXIT_CODES } from './task-exit-codes.js';
export type {
  Container,
  ExecuteRequest,
  ExecuteResult,
  ModelPackageInfo,
  ModelPackager,
  PipelineExecutor,
  ProgressEvent,
  Provider,
  RegistrationOptions,
  Token,
} from './tokens.js';
export {
  CacheToken,
  createToken,
  ExecutorToken,
  HooksToken,
  LoggerToken,
  MetricsCollectorToken,
  OrchestratorToken,
  PackagerToken,
  SchedulerToken,
  StageRegistryToken,
} from './tokens.js';

// @phys/testing — the test kit of phys: a test runtime, a memory cache, hook collectors, the
// scheduler and orchestrator conformance suites and the run store contract (vitest is a peer
// dependency).

export type {
  HookCollector,
  HookEventName,
  HookEvents,
  HookRecord,
} from './collect-hooks.js';
export { collectHooks } from './collect-hooks.js';
// scheduler conformance suite (imports vitest)
export { conformanceConfigFile } from './conformance/config-file.js';
export type {
  SchedulerConformanceCheck,
  SchedulerConformanceContext,
  SchedulerConformanceOptions,
  SchedulerUnderTest,
} from './conformance/describe-scheduler-conformance.js';
export { describeSchedulerConformance } from './conformance/describe-scheduler-conformance.js';
export {
  ConformanceEcho,
  ConformanceFail,
  ConformanceResources,
  ConformanceSleep,
  conformanceStages,
} from './conformance/stages.js';
export type { TestRuntimeOptions } from './create-test-runtime.js';
export { createTestRuntime } from './create-test-runtime.js';
export type { MemoryCacheOptions } from './memory-cache.js';
export { MemoryCache } from './memory-cache.js';
// orchestrator conformance suite and run store contract (import vitest)
export type {
  OrchestratorConformanceCheck,
  OrchestratorConformanceContext,
  OrchestratorConformanceOptions,
  OrchestratorUnderTest,
} from './orchestrator-conformance.js';
export { describeOrchestratorConformance } from './orchestrator-conformance.js';
export {
  OrchestratorAdd,
  OrchestratorBlock,
  OrchestratorFail,
  OrchestratorFlaky,
  orchestratorConformanceConfig,
  orchestratorConformancePipelines,
  orchestratorConformanceStages,
} from './orchestrator-fixtures.js';
export type { RecordingLogger, RecordingLoggerOptions } from './recording-logger.js';
export { recordingLogger } from './recording-logger.js';
export type { RunStoreContractOptions } from './run-store-contract.js';
export { describeRunStoreContract } from './run-store-contract.js';
export { taskCommand } from './task-command.js';

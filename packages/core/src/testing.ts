// @phys/core/testing — helpers for tests of phys pipelines and plugins.

export type {
  HookCollector,
  HookEventName,
  HookEvents,
  HookRecord,
} from './testing/collect-hooks.js';
export { collectHooks } from './testing/collect-hooks.js';
// scheduler conformance suite (imports vitest)
export { conformanceConfigFile } from './testing/conformance/config-file.js';
export type {
  SchedulerConformanceCheck,
  SchedulerConformanceContext,
  SchedulerConformanceOptions,
  SchedulerUnderTest,
} from './testing/conformance/describe-scheduler-conformance.js';
export { describeSchedulerConformance } from './testing/conformance/describe-scheduler-conformance.js';
export {
  ConformanceEcho,
  ConformanceFail,
  ConformanceResources,
  ConformanceSleep,
  conformanceStages,
} from './testing/conformance/stages.js';
export type { TestRuntimeOptions } from './testing/create-test-runtime.js';
export { createTestRuntime } from './testing/create-test-runtime.js';
export type { MemoryCacheOptions } from './testing/memory-cache.js';
export { MemoryCache } from './testing/memory-cache.js';

// @phys/testing — the test kit of phys: a test runtime, a memory cache, hook collectors and the
// scheduler conformance suite (vitest is a peer dependency).

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
export { taskCommand } from './task-command.js';

// @phys/core/testing — helpers for tests of phys pipelines and plugins.

export type {
  HookCollector,
  HookEventName,
  HookEvents,
  HookRecord,
} from './testing/collect-hooks.js';
export { collectHooks } from './testing/collect-hooks.js';
export type { TestRuntimeOptions } from './testing/create-test-runtime.js';
export { createTestRuntime } from './testing/create-test-runtime.js';
export type { MemoryCacheOptions } from './testing/memory-cache.js';
export { MemoryCache } from './testing/memory-cache.js';

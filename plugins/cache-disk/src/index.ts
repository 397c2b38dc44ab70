// @phys/cache-disk — a crash-safe, content-addressed disk cache of DAG node results, the chained
// cache keys it is addressed by, and a single-flight cache for shared file systems.

// ---- keys and plans
export type {
  ComputeDagKeysOptions,
  DagKeyInputs,
  KeyChangeReason,
  NodeCacheKey,
} from './dag-keys.js';
export {
  codeFingerprint,
  computeDagKeys,
  DAG_KEY_FORMAT,
  dagCacheKey,
  explainKeyChange,
  formatKeyChange,
  KEY_INPUTS_FIELD,
} from './dag-keys.js';
// ---- caches
export type {
  DiskCacheEntryInfo,
  DiskCacheOptions,
  GcOptions,
  GcReport,
  GetOrComputeOptions,
  GetOrComputeResult,
  VerifyReport,
} from './disk-cache.js';
export { DiskCache } from './disk-cache.js';
export type { EntryMetadata } from './entry-file.js';
// ---- plugin
export type { CacheDiskOptions, ResolvedCacheDiskOptions } from './options.js';
export { cacheDiskOptionsSchema } from './options.js';
export type {
  DagPlan,
  LineageRecord,
  LineageSource,
  PlanDagOptions,
  PlannedNode,
} from './plan.js';
export { planDag } from './plan.js';
export { default, default as cacheDisk } from './plugin.js';
export type { LockOwner, SharedDiskCacheOptions } from './shared-disk-cache.js';
export { SharedDiskCache } from './shared-disk-cache.js';

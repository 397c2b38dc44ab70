// @phys/cache-disk — a crash-safe, content-addressed disk cache of DAG node results, and a
// single-flight cache for shared file systems. The cache keys and plans live in @phys/core.

export type { DiskCacheOptions } from './disk-cache.js';
export { DiskCache } from './disk-cache.js';
export type { CacheDiskOptions, ResolvedCacheDiskOptions } from './options.js';
export { cacheDiskOptionsSchema } from './options.js';
export { default, default as cacheDisk } from './plugin.js';
export type {
  DiskCacheEntryInfo,
  EntryMetadata,
  GcOptions,
  GcReport,
  LockOwner,
  VerifyReport,
} from './public-types.js';
export type { SharedDiskCacheOptions } from './shared-disk-cache.js';
export { SharedDiskCache } from './shared-disk-cache.js';
export type { LockOutcome, SingleFlightLock } from './single-flight-lock.js';

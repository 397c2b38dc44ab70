import { isAbsolute, join, resolve } from 'node:path';
import { CacheToken, definePlugin, type PhysPlugin } from '@phys/core';
import { DiskCache, type DiskCacheOptions } from './disk-cache.js';
import {
  type CacheDiskOptions,
  parseCacheDiskOptions,
  type ResolvedCacheDiskOptions,
} from './options.js';
import { SharedDiskCache, type SharedDiskCacheOptions } from './shared-disk-cache.js';

declare module '@phys/core' {
  interface PhysPluginOptionsMap {
    'cache-disk': CacheDiskOptions;
  }
}

/** Drops undefined values (exactOptionalPropertyTypes: absent and undefined differ). */
function defined<T extends object>(value: { readonly [K in keyof T]?: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * The `cache-disk` plugin: provides the result cache (`CacheToken`), a {@link DiskCache}, or a
 * {@link SharedDiskCache} with `shared: true`. Its directory is `dir` (relative to the config),
 * else `<cacheDir>/cache` (`cacheDir` of the config, default `.phys`).
 * @public
 */
export default function cacheDisk(
  options?: CacheDiskOptions,
): PhysPlugin<ResolvedCacheDiskOptions> {
  const parsed = parseCacheDiskOptions(options);
  let cache: DiskCache | undefined;
  return definePlugin<ResolvedCacheDiskOptions>({
    name: 'cache-disk',
    provides: ['cache'],
    options: parsed,
    register(ctx) {
      const base = ctx.cacheDir ?? join(ctx.configDir, '.phys');
      const dir =
        parsed.dir === undefined
          ? join(base, 'cache')
          : isAbsolute(parsed.dir)
            ? parsed.dir
            : resolve(ctx.configDir, parsed.dir);
      const common = defined<DiskCacheOptions>({
        dir,
        maxBytes: parsed.maxBytes,
        fsync: parsed.fsync,
        syncIoMaxBytes: parsed.syncIoMaxBytes,
        fileMode: parsed.fileMode,
        dirMode: parsed.dirMode,
      });
      cache = parsed.shared
        ? new SharedDiskCache(
            defined<SharedDiskCacheOptions>({
              ...common,
              name: 'shared-disk',
              heartbeatMs: parsed.heartbeatMs,
              lockStaleMs: parsed.lockStaleMs,
            }),
          )
        : new DiskCache(common);
      ctx.container.register(CacheToken, { useValue: cache });
    },
    async dispose() {
      const c = cache;
      cache = undefined;
      await c?.close();
    },
  });
}

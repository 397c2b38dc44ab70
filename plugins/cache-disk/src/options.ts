import { parseMemory, parsePluginOptions } from '@phys/core';
import { z } from 'zod';

const ms = z.number().positive();
const mode = z.number().int().min(0).max(0o7777);

/** zod schema of the `cache-disk` plugin options. @public */
export const cacheDiskOptionsSchema = z
  .object({
    /** Cache directory, relative to the config's directory (default `<cacheDir>/cache`). */
    dir: z.string().min(1).optional(),
    /** Size limit: bytes or a size such as `"20Gi"` (default: unlimited). */
    maxBytes: z
      .union([z.number().positive(), z.string()])
      .refine(
        (value) => {
          try {
            parseMemory(value);
            return true;
          } catch {
            return false;
          }
        },
        { message: 'use a positive size such as "512Mi", "20Gi" or a number of bytes' },
      )
      .optional(),
    /** `'batch'` (default), `true` (fsync before each put returns) or `false`. */
    fsync: z.union([z.boolean(), z.literal('batch')]).optional(),
    /** Use {@link SharedDiskCache}: single flight across processes and hosts, group-writable. */
    shared: z.boolean().default(false),
    /** Entries up to this size use synchronous I/O (default 256 KiB, shared: 0). */
    syncIoMaxBytes: z.number().int().min(0).optional(),
    fileMode: mode.optional(),
    dirMode: mode.optional(),
    /** Shared cache: lock heartbeat period (default 5000 ms). */
    heartbeatMs: ms.optional(),
    /** Shared cache: a lock whose heartbeat stopped this long is taken over (default 30000 ms). */
    lockStaleMs: ms.optional(),
  })
  .superRefine((options, ctx) => {
    if (options.shared) return;
    for (const key of ['heartbeatMs', 'lockStaleMs'] as const) {
      if (options[key] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'applies to the shared cache only: set `shared: true` or remove it',
        });
      }
    }
  });

/** Options of the `cache-disk` plugin, as written in `phys.config.ts`. @public */
export type CacheDiskOptions = z.input<typeof cacheDiskOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedCacheDiskOptions = z.output<typeof cacheDiskOptionsSchema>;

/** Validates plugin options (every problem reported, with its path). */
export function parseCacheDiskOptions(options: unknown): ResolvedCacheDiskOptions {
  return parsePluginOptions('cache-disk', cacheDiskOptionsSchema, options);
}

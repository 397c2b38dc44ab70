import {
  type Cache,
  type CacheEntryInfo,
  CacheToken,
  ConfigError,
  isMaintainableCache,
  type MaintainableCache,
  UsageError,
} from '@phys/core';
import type { PhysRuntime } from '@phys/runtime';
import type { ConfigOptions } from '../cli.js';
import type { CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatNumber, stringify, table } from '../format.js';
import { withRuntime } from '../open-runtime.js';

/** Options of `phys cache clear`. */
export interface CacheClearOptions extends ConfigOptions {
  readonly yes?: boolean;
}

/** The subcommands of `phys cache`. */
export type CacheSubcommand = 'stats' | 'ls' | 'gc' | 'verify' | 'clear';

/**
 * The cache the config declares (`CacheToken`), or a config error (exit 78) that says how to
 * declare one: `command` names what needed it.
 */
export function configuredCache(runtime: PhysRuntime, command: string): Cache {
  if (!runtime.isRegistered(CacheToken)) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `${command} needs a result cache, but no plugin in ${runtime.configFile ?? 'the config'} provides one. Add one to plugins, e.g. plugins: ['executor-dag', ['cache-disk', { maxBytes: '20Gi' }]] (package @phys/cache-disk).`,
      { issues: [{ path: 'plugins', message: 'no plugin provides the cache capability' }] },
    );
  }
  return runtime.resolve(CacheToken);
}

function maintained(cache: Cache, sub: Exclude<CacheSubcommand, 'stats'>): MaintainableCache {
  if (!isMaintainableCache(cache)) {
    throw new UsageError(
      `The configured cache '${cache.name}' does not implement MaintainableCache (list, gc, verify and clear of @phys/core), so \`phys cache ${sub}\` cannot work with it. Use a cache that does, such as @phys/cache-disk.`,
      { details: { cache: cache.name, missing: 'MaintainableCache' } },
    );
  }
  return cache;
}

/** `1.5 MiB`: binary units, as `maxBytes` is written. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unlimited';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

const GC_LABELS: Readonly<Record<string, string>> = {
  evicted: 'entries evicted',
  evictedBytes: 'bytes evicted',
  tempFilesRemoved: 'temporary files removed',
  quarantineRemoved: 'quarantined files removed',
  entries: 'entries left',
  bytes: 'size left',
};

function countEntries(n: number): string {
  return `${n} ${n === 1 ? 'entry' : 'entries'}`;
}

function where(cache: Cache): Record<string, unknown> {
  const c = cache as Partial<MaintainableCache>;
  return {
    cache: cache.name,
    ...(typeof c.dir === 'string' ? { dir: c.dir } : {}),
    ...(typeof c.maxBytes === 'number'
      ? { maxBytes: Number.isFinite(c.maxBytes) ? c.maxBytes : null }
      : {}),
  };
}

function header(ctx: CliContext, cache: Cache): void {
  const dir = (cache as Partial<MaintainableCache>).dir;
  ctx.out(`cache ${cache.name}${typeof dir === 'string' ? ` at ${dir}` : ''}`);
}

/** `phys cache stats|ls|gc|verify|clear`: maintenance of the cache the config declares. */
export async function cacheCommand(
  ctx: CliContext,
  sub: CacheSubcommand,
  options: CacheClearOptions,
): Promise<number> {
  const json = options.json === true;
  if (sub === 'clear' && options.yes !== true) {
    throw new UsageError(
      '`phys cache clear` deletes every entry of the cache; run it again with --yes to confirm.',
    );
  }
  return withRuntime(ctx, options, `cache ${sub}`, async (runtime) => {
    const cache = configuredCache(runtime, `phys cache ${sub}`);
    switch (sub) {
      case 'stats':
        return stats(ctx, cache, json);
      case 'ls':
        return list(ctx, maintained(cache, sub), json);
      case 'gc': {
        const report = await maintained(cache, sub).gc();
        if (json) ctx.out(stringify({ ...where(cache), ...report }));
        else {
          header(ctx, cache);
          const rows = Object.entries({ ...report }).map(([k, v]) => [
            GC_LABELS[k] ?? k,
            /bytes/i.test(k) ? formatBytes(v) : formatNumber(v),
          ]);
          for (const line of table(rows, ['left', 'right'])) ctx.out(`  ${line}`);
        }
        return ExitCode.OK;
      }
      case 'verify': {
        const report = await maintained(cache, sub).verify();
        // A cache may also name links inside it that it refuses to follow (@phys/cache-disk does).
        const links = (report as { readonly symlinks?: unknown }).symlinks;
        const symlinks = Array.isArray(links) ? (links as unknown[]).map(String) : [];
        if (json) ctx.out(stringify({ ...where(cache), ...report }));
        else {
          header(ctx, cache);
          ctx.out(
            `  ${countEntries(report.checked)} checked: ${report.ok} intact (${formatBytes(report.bytes)}), ${report.corrupt} corrupt${report.corrupt > 0 ? ' (moved to quarantine/, they are misses now)' : ''}`,
          );
          if (symlinks.length > 0) {
            ctx.out(
              `  ${symlinks.length} symbolic link${symlinks.length === 1 ? '' : 's'} inside the cache, never followed (the cache does not write, read or delete through them); remove them:`,
            );
            for (const path of symlinks) ctx.out(`    ${path}`);
          }
        }
        // A script must notice damaged entries (no longer served) and planted links alike.
        return report.corrupt > 0 || symlinks.length > 0 ? ExitCode.RUN_FAILED : ExitCode.OK;
      }
      case 'clear': {
        const report = await maintained(cache, sub).clear();
        if (json) ctx.out(stringify({ ...where(cache), removed: report }));
        else {
          header(ctx, cache);
          ctx.out(`  removed ${countEntries(report.entries)} (${formatBytes(report.bytes)})`);
        }
        return ExitCode.OK;
      }
    }
  });
}

async function stats(ctx: CliContext, cache: Cache, json: boolean): Promise<number> {
  const s = await cache.stats();
  const limit = (cache as Partial<MaintainableCache>).maxBytes;
  if (json) {
    ctx.out(stringify({ ...where(cache), ...s }));
    return ExitCode.OK;
  }
  header(ctx, cache);
  const rows = [
    ['entries', formatNumber(s.entries)],
    [
      'size',
      `${formatBytes(s.bytes)}${typeof limit === 'number' ? ` of ${formatBytes(limit)}` : ''}`,
    ],
    ['corrupt (this process)', formatNumber(s.corrupt)],
    ['evictions (this process)', formatNumber(s.evictions)],
  ];
  for (const line of table(rows, ['left', 'right'])) ctx.out(`  ${line}`);
  return ExitCode.OK;
}

async function list(ctx: CliContext, cache: MaintainableCache, json: boolean): Promise<number> {
  const entries: CacheEntryInfo[] = [];
  for await (const entry of cache.list()) entries.push(entry);
  // Most recently used first: what `ls -t` shows, and what eviction removes last.
  entries.sort((a, b) => b.lastUsedAt.getTime() - a.lastUsedAt.getTime());
  if (json) {
    ctx.out(
      stringify({
        ...where(cache),
        entries: entries.map((e) => ({
          key: e.key,
          size: e.size,
          createdAt: e.createdAt.toISOString(),
          lastUsedAt: e.lastUsedAt.toISOString(),
          ...(e.stage === undefined ? {} : { stage: e.stage }),
          ...(e.stageVersion === undefined ? {} : { stageVersion: e.stageVersion }),
          ...(e.nodeId === undefined ? {} : { nodeId: e.nodeId }),
        })),
      }),
    );
    return ExitCode.OK;
  }
  header(ctx, cache);
  if (entries.length === 0) {
    ctx.out('  (empty)');
    return ExitCode.OK;
  }
  let bytes = 0;
  for (const e of entries) bytes += e.size;
  const rows = entries.map((e) => [
    e.key.slice(0, 16),
    formatBytes(e.size),
    e.stage === undefined
      ? '-'
      : `${e.stage}${e.stageVersion === undefined ? '' : `@${e.stageVersion}`}`,
    e.nodeId ?? '-',
    e.lastUsedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
  ]);
  for (const line of table(
    [['key', 'size', 'stage', 'node', 'last used'], ...rows],
    ['left', 'right'],
  ))
    ctx.out(`  ${line}`);
  ctx.out(`  ${countEntries(entries.length)}, ${formatBytes(bytes)}`);
  return ExitCode.OK;
}

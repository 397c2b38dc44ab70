import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheToken, ConfigError, defineConfig, type PhysConfig } from '@phys/core';
import { createTestRuntime } from '@phys/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskCache } from './disk-cache.js';
import cacheDisk from './plugin.js';
import { SharedDiskCache } from './shared-disk-cache.js';

let configDir: string;
beforeEach(() => {
  configDir = fs.mkdtempSync(join(tmpdir(), 'phys-cache-plugin-'));
});
afterEach(() => {
  fs.rmSync(configDir, { recursive: true, force: true });
});

async function cacheOf(config: PhysConfig) {
  const runtime = await createTestRuntime({ config, configDir });
  return { cache: runtime.resolve(CacheToken), dispose: () => runtime.dispose() };
}

describe('cache-disk plugin', () => {
  it('provides a DiskCache under <configDir>/.phys/cache by default', async () => {
    const { cache, dispose } = await cacheOf({ plugins: [cacheDisk()] });
    expect(cache).toBeInstanceOf(DiskCache);
    expect((cache as DiskCache).dir).toBe(join(configDir, '.phys', 'cache'));
    await cache.put('ab'.repeat(32), { state: 1, metrics: {}, provenance: {} });
    expect(fs.existsSync(join(configDir, '.phys', 'cache', 'v1', 'ab'))).toBe(true);
    await dispose();
  });

  it('follows the config’s cacheDir, and takes dir relative to the config', async () => {
    const a = await cacheOf({ plugins: [cacheDisk()], cacheDir: 'scratch' });
    expect((a.cache as DiskCache).dir).toBe(join(configDir, 'scratch', 'cache'));
    await a.dispose();
    const b = await cacheOf({ plugins: [cacheDisk({ dir: 'results/cache', maxBytes: '1Gi' })] });
    expect((b.cache as DiskCache).dir).toBe(join(configDir, 'results', 'cache'));
    expect((b.cache as DiskCache).maxBytes).toBe(2 ** 30);
    await b.dispose();
  });

  it('provides a SharedDiskCache with shared: true', async () => {
    const { cache, dispose } = await cacheOf({
      plugins: [cacheDisk({ shared: true, heartbeatMs: 1000, lockStaleMs: 10_000 })],
    });
    expect(cache).toBeInstanceOf(SharedDiskCache);
    expect(cache.name).toBe('shared-disk');
    await dispose();
  });

  it('is typed in defineConfig and reports every invalid option with its path', () => {
    const config = defineConfig({ plugins: [['cache-disk', { shared: true }]] });
    expect(config.plugins).toHaveLength(1);
    // @ts-expect-error a misspelled option is a type error once this package is imported
    defineConfig({ plugins: [['cache-disk', { maxByte: 10 }]] });
    const issuesOf = (options: unknown) => {
      try {
        cacheDisk(options as never);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).issues.map((i) => i.path).sort();
      }
      return expect.unreachable();
    };
    expect(issuesOf({ maxBytes: 'lots', fsync: 'sometimes', colour: 'blue' })).toEqual([
      'plugins.cache-disk.colour',
      'plugins.cache-disk.fsync',
      'plugins.cache-disk.maxBytes',
    ]);
    expect(issuesOf({ heartbeatMs: 5 })).toEqual(['plugins.cache-disk.heartbeatMs']);
  });
});

import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PipelineStage, StageOptions, StageRef } from '@phys/core';
import { loadConfig } from './load-config.js';
import { createRuntime, type PhysRuntime, type RuntimeOptions } from './runtime.js';

const runtimes = new Map<string, Promise<PhysRuntime>>();

/** Options of {@link loadRuntime}. @public */
export interface LoadRuntimeOptions extends Pick<RuntimeOptions, 'logger' | 'command' | 'mode'> {
  /** Run plugins' `init` hooks (default `false`: a rebuilding process starts no services). */
  readonly init?: boolean;
}

/**
 * The runtime of `configFile`, loaded once per process (per thread) and then reused: the entry
 * point of every process that executes nodes by identity (worker threads, cluster jobs,
 * `phys exec`). By default plugins are registered but not initialised. A failed load is not
 * cached, so a later call retries.
 * @public
 */
export async function loadRuntime(
  configFile: string,
  options: LoadRuntimeOptions = {},
): Promise<PhysRuntime> {
  const absolute = resolve(configFile);
  const file = await realpath(absolute).catch(() => absolute);
  const init = options.init ?? false;
  const key = `${init ? 'init' : 'register'}:${file}`;
  let runtime = runtimes.get(key);
  if (runtime === undefined) {
    runtime = (async () => {
      const loaded = await loadConfig({
        configFile: file,
        ...(options.command === undefined ? {} : { command: options.command }),
        ...(options.mode === undefined ? {} : { mode: options.mode }),
      });
      return createRuntime(loaded, {
        init,
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
    })();
    runtimes.set(key, runtime);
    runtime.catch(() => runtimes.delete(key));
  }
  return runtime;
}

/**
 * Rebuilds a configured stage from its identity `(name, version, config)` through the stage
 * registry of `configFile` (loaded once per process, see {@link loadRuntime}). Throws
 * `PHYS_STAGE_UNKNOWN` for a stage the config does not declare and `PHYS_STAGE_CONFIG_INVALID`
 * for a config its schema rejects.
 * @public
 */
export async function rebuildStage(
  configFile: string,
  ref: StageRef,
  options: StageOptions & LoadRuntimeOptions = {},
): Promise<PipelineStage> {
  const { label, ...runtimeOptions } = options;
  const runtime = await loadRuntime(configFile, runtimeOptions);
  return runtime.stages.rebuild(ref, label === undefined ? {} : { label });
}

/** Disposes every runtime {@link loadRuntime} cached in this process (call before a worker exits). @public */
export async function disposeRuntimes(): Promise<void> {
  const all = [...runtimes.values()];
  runtimes.clear();
  let firstFailure: unknown;
  for (const pending of all) {
    // A runtime that failed to load started nothing: there is nothing to dispose.
    const runtime = await pending.catch(() => undefined);
    try {
      await runtime?.dispose();
    } catch (error) {
      firstFailure ??= error;
    }
  }
  if (firstFailure !== undefined) throw firstFailure;
}

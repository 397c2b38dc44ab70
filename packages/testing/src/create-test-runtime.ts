import type {
  Logger,
  PhysConfig,
  PipelineDeclaration,
  PluginEntry,
  StageDefinition,
} from '@phys/core';
import { silentLogger } from '@phys/core';
import { createRuntime, type PhysRuntime } from '@phys/runtime';

/** Options of {@link createTestRuntime}. @public */
export interface TestRuntimeOptions {
  /** The config, as a `phys.config.ts` would default-export it (validated the same way). */
  readonly config?: PhysConfig;
  /** Added after `config.stages`. */
  readonly stages?: readonly StageDefinition[];
  /** Added after `config.plugins`. */
  readonly plugins?: readonly PluginEntry[];
  /** Added to `config.pipelines`. */
  readonly pipelines?: Readonly<Record<string, PipelineDeclaration>>;
  /** Where plugin names resolve from (default `process.cwd()`). */
  readonly configDir?: string;
  /** Default: a silent logger. */
  readonly logger?: Logger;
  /** Run plugins' `init` (default `true`). */
  readonly init?: boolean;
}

/**
 * A runtime from an in-memory config, without a config file: the same validation, plugin
 * checks, lifecycle and child container as `createRuntime` from `@phys/runtime`. Dispose it
 * after the test.
 * @public
 */
export async function createTestRuntime(options: TestRuntimeOptions = {}): Promise<PhysRuntime> {
  const base = options.config ?? {};
  const config: PhysConfig = {
    ...base,
    ...(options.stages === undefined
      ? {}
      : { stages: [...(base.stages ?? []), ...options.stages] }),
    ...(options.plugins === undefined
      ? {}
      : { plugins: [...(base.plugins ?? []), ...options.plugins] }),
    ...(options.pipelines === undefined
      ? {}
      : { pipelines: { ...base.pipelines, ...options.pipelines } }),
  };
  return createRuntime(
    {
      config,
      configDir: options.configDir ?? process.cwd(),
      env: { command: 'test', mode: 'test' },
    },
    {
      logger: options.logger ?? silentLogger,
      ...(options.init === undefined ? {} : { init: options.init }),
    },
  );
}

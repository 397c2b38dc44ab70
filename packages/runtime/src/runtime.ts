import { resolve as resolvePath } from 'node:path';
import type {
  ConfigEnv,
  PhysConfig,
  PhysPlugin,
  PipelineDeclaration,
  PipelineStage,
  PluginContext,
  ScheduleSpec,
  SequentialPipelineDeclaration,
  StageDefinition,
} from '@phys/core';
import {
  ConfigError,
  createConsoleLogger,
  type Logger,
  LoggerToken,
  type Orchestrator,
  OrchestratorToken,
  PhysError,
  PluginError,
  StageRegistry,
  StageRegistryToken,
  type Token,
  UsageError,
} from '@phys/core';
import { validateConfig } from './config-schema.js';
import {
  createChildContainer,
  type DependencyContainer,
  type InjectionToken,
} from './container.js';
import { taskEnvelopeEntry } from './envelope/entry.js';
import { LocalOrchestrator } from './orchestrator/local-orchestrator.js';
import { runSequentialDeclaration } from './pipeline/run-declared.js';
import type { PipelineResult, PipelineRunOptions } from './pipeline/sequential-pipeline.js';
import { type LoadedPlugin, loadPlugins } from './plugin-loader.js';
import { configSchedules, type ScheduleHandle, schedule } from './schedules/parse-schedule.js';
import { closestNames, didYouMean } from './suggest.js';

/** What {@link createRuntime} builds from: a {@link LoadedConfig}, or an in-memory config. @public */
export interface RuntimeSource {
  readonly config: PhysConfig;
  /** Plugin names and relative paths resolve from here. */
  readonly configDir: string;
  /** The config file, when there is one (used as the parent of plugin imports). */
  readonly filepath?: string | undefined;
  readonly env?: ConfigEnv | undefined;
}

/** @public */
export interface RuntimeOptions {
  /** Default: a console logger at the config's `logLevel` (else `info`). */
  readonly logger?: Logger;
  /** Overrides the loaded config's `command` (what the process is doing: `run`, `exec`, ...). */
  readonly command?: string;
  readonly mode?: string;
  /**
   * Run the plugins' `init` hooks (default `true`). Processes that only rebuild stages (worker
   * threads, cluster jobs) pass `false`: providers are registered, but nothing is started, so
   * `dispose` hooks are not called either (the container is still disposed).
   */
  readonly init?: boolean;
}

/** Options of {@link PhysRuntime.runPipeline}. @public */
export interface RuntimeRunOptions extends PipelineRunOptions {
  /** Replaces the declared initial state (a function is called, and awaited). */
  readonly initialState?: unknown;
}

/**
 * A loaded config with its plugins registered and initialised, in its own child container.
 * Close it with {@link PhysRuntime.dispose}.
 * @public
 */
export interface PhysRuntime {
  /** The validated config. */
  readonly config: PhysConfig;
  /** Absolute directory of the config: plugin names and relative paths resolve from it. */
  readonly configDir: string;
  /** The config file, or undefined for an in-memory config. */
  readonly configFile: string | undefined;
  /** What the process is doing (`command`) and in which `mode`. */
  readonly env: ConfigEnv;
  /** Absolute cache directory (`cacheDir` resolved from the config's directory; default `.phys`). */
  readonly cacheDir: string;
  /** The logger registered under `LoggerToken`. */
  readonly logger: Logger;
  /** This runtime's child container; nothing is ever registered on the global one. */
  readonly container: DependencyContainer;
  /** Stages of the config, of its plugins, and of its pipelines, rebuildable by identity. */
  readonly stages: StageRegistry;
  /** The plugins, in config order. */
  readonly plugins: readonly PhysPlugin[];
  /** The declared pipelines, by name. */
  readonly pipelines: Readonly<Record<string, PipelineDeclaration>>;
  /** Resolves a single-valued token; `PHYS_DI_UNRESOLVED` when no plugin provides it. */
  resolve<T>(token: Token<T> | InjectionToken<T>): T;
  /** Every provider of a multi-valued token (none is an empty array). */
  resolveAll<T>(token: Token<T> | InjectionToken<T>): T[];
  /** Whether some plugin registered `token`. */
  isRegistered<T>(token: Token<T> | InjectionToken<T>): boolean;
  /** The declaration of pipeline `name`; `PHYS_USAGE` naming the known ones when absent. */
  pipeline(name: string): PipelineDeclaration;
  /**
   * Runs a declared sequential pipeline with the hooks plugins registered under `HooksToken`
   * (then the run's own). The run's policy is laid over the pipeline's, which is laid over the
   * config's: later keys win.
   */
  runPipeline<TOut = unknown>(
    name: string,
    options?: RuntimeRunOptions,
  ): Promise<PipelineResult<TOut>>;
  /**
   * Where whole pipelines are submitted: the `orchestrator` a plugin provides
   * (`OrchestratorToken`, e.g. `@phys/orchestrator-remote`), else this runtime's
   * {@link LocalOrchestrator}, created on first use with its defaults (a memory run store, one
   * run at a time) and closed by {@link PhysRuntime.dispose}.
   */
  readonly orchestrator: Orchestrator;
  /**
   * The schedules `phys serve` fires: those declared under the config's pipelines, then those
   * added with {@link PhysRuntime.schedule}.
   */
  readonly schedules: readonly ScheduleHandle[];
  /**
   * Adds a schedule of declared pipeline `pipeline` (either form:
   * `{ daily: '02:30', timezone: 'Europe/Berlin' }` or `{ scheduleType: 'daily', value: 3 }`)
   * and returns its handle, which tells its next fire times. `PHYS_USAGE` for an unknown
   * pipeline; `PHYS_CONFIG_INVALID` for a bad spec or a name another schedule has.
   */
  schedule(pipeline: string, spec: ScheduleSpec): ScheduleHandle;
  /**
   * Closes the local orchestrator when one was created (running runs are aborted), disposes
   * plugins in reverse order, then the container. Safe to call twice.
   */
  dispose(): Promise<void>;
}

const RUNTIME_BRAND = Symbol.for('@phys/runtime:PhysRuntime');

/**
 * True for a runtime made by {@link createRuntime} (of any installed copy of this package): a
 * plugin command receives core's `CliRuntime` and checks whether the host handed it a whole
 * runtime, e.g. to build a `LocalOrchestrator` over it.
 * @public
 */
export function isPhysRuntime(value: unknown): value is PhysRuntime {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[RUNTIME_BRAND] === true
  );
}

function tokenName(token: InjectionToken<unknown>): string {
  if (typeof token === 'symbol') return token.description ?? token.toString();
  if (typeof token === 'function') return token.name;
  return String(token);
}

function wrapHookError(plugin: PhysPlugin, hook: string, error: unknown): PhysError {
  if (PhysError.is(error) && error.code === 'PHYS_PLUGIN_FAILED') return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PluginError(plugin.name, 'PHYS_PLUGIN_FAILED', `${hook}() failed: ${message}`, {
    cause: error,
    details: { hook },
  });
}

/**
 * Registers the definition behind every stage a pipeline uses, so that a worker that loads the
 * same config can rebuild it by identity without the user listing it twice. A different
 * definition already holding the same name@version with different code is a real clash: the
 * registry reports it.
 */
function registerPipelineStages(config: PhysConfig, stages: StageRegistry): void {
  const add = (stage: PipelineStage) => {
    const definition = stage.definition as StageDefinition;
    if (!stages.has(stage.name, stage.version)) {
      stages.register(definition, 'a pipeline');
    } else if (stages.get(stage.name, stage.version).source !== definition.source) {
      stages.register(definition, 'a pipeline');
    }
  };
  for (const declaration of Object.values(config.pipelines ?? {})) {
    if (declaration.kind === 'dag') for (const node of declaration.nodes) add(node.stage);
    else for (const stage of declaration.stages) add(stage);
  }
}

async function disposePlugins(
  plugins: readonly PhysPlugin[],
  logger: Logger,
): Promise<PhysError[]> {
  const failures: PhysError[] = [];
  for (const plugin of [...plugins].reverse()) {
    if (plugin.dispose === undefined) continue;
    try {
      await plugin.dispose();
    } catch (error) {
      const wrapped = wrapHookError(plugin, 'dispose', error);
      logger.error(wrapped.message, { plugin: plugin.name });
      failures.push(wrapped);
    }
  }
  return failures;
}

/**
 * Builds a runtime: resolves the config's plugins, creates one tsyringe child container, fills
 * the stage registry (config `stages`, then what plugins register, then the stages of declared
 * pipelines), calls every plugin's `register` (synchronously, config order) and then `init`
 * (awaited, config order). Any hook failure is a `PluginError` `PHYS_PLUGIN_FAILED` naming the
 * plugin; what was started is disposed before it is thrown.
 * @public
 */
export async function createRuntime(
  source: RuntimeSource,
  options: RuntimeOptions = {},
): Promise<PhysRuntime> {
  const configDir = resolvePath(source.configDir);
  const config = validateConfig(source.config, source.filepath ?? 'the in-memory config');
  const env: ConfigEnv = {
    command: options.command ?? source.env?.command ?? 'run',
    mode: options.mode ?? source.env?.mode ?? process.env.NODE_ENV ?? 'development',
  };
  const logger = options.logger ?? createConsoleLogger(config.logLevel ?? 'info');
  const loaded: LoadedPlugin[] = await loadPlugins(config.plugins ?? [], {
    configDir,
    configFile: source.filepath,
  });
  const plugins = Object.freeze(loaded.map((l) => l.plugin));

  const cacheDir = resolvePath(configDir, config.cacheDir ?? '.phys');
  const container = createChildContainer();
  const stages = new StageRegistry();
  container.register(LoggerToken, { useValue: logger });
  container.register(StageRegistryToken, { useValue: stages });

  // Resolved on first use: only scheduler plugins that start jobs need the built entry script.
  let taskCommand: readonly string[] | undefined;
  const contexts = loaded.map(
    (l): PluginContext => ({
      options: l.options,
      container,
      logger: logger.child({ plugin: l.plugin.name }),
      configDir,
      configFile: source.filepath,
      cacheDir,
      stages,
      get taskCommand() {
        taskCommand ??= Object.freeze([process.execPath, taskEnvelopeEntry()]);
        return taskCommand;
      },
    }),
  );

  const started: PhysPlugin[] = [];
  try {
    for (const definition of config.stages ?? []) {
      stages.register(definition, 'phys.config (stages)');
    }
    for (const [index, { plugin }] of loaded.entries()) {
      let returned: unknown;
      try {
        returned = plugin.register(contexts[index] as PluginContext);
      } catch (error) {
        throw wrapHookError(plugin, 'register', error);
      }
      if (returned !== undefined && typeof (returned as Promise<void>).then === 'function') {
        // Registrations must all exist before any init runs; an async register breaks that.
        (returned as Promise<void>).catch(() => {});
        throw new PluginError(
          plugin.name,
          'PHYS_PLUGIN_INVALID',
          'register() returned a promise. Keep register() synchronous (DI registrations only) and move async work to init().',
        );
      }
    }
    registerPipelineStages(config, stages);
    if (options.init !== false) {
      for (const [index, { plugin }] of loaded.entries()) {
        try {
          await plugin.init?.(contexts[index] as PluginContext);
        } catch (error) {
          throw wrapHookError(plugin, 'init', error);
        }
        started.push(plugin);
      }
    }
  } catch (error) {
    await disposePlugins(started, logger);
    await container.dispose();
    throw error;
  }

  const pipelines = config.pipelines ?? {};
  let disposing: Promise<void> | undefined;
  let local: LocalOrchestrator | undefined;
  let schedules: ScheduleHandle[] | undefined;
  const declaredSchedules = (): ScheduleHandle[] => {
    schedules ??= configSchedules(pipelines);
    return schedules;
  };

  const runtime: PhysRuntime = {
    config,
    configDir,
    configFile: source.filepath,
    env,
    cacheDir,
    logger,
    container,
    stages,
    plugins,
    pipelines,
    resolve<T>(token: Token<T> | InjectionToken<T>): T {
      if (typeof token !== 'function' && !container.isRegistered(token, true)) {
        throw new PhysError(
          'PHYS_DI_UNRESOLVED',
          `Nothing provides '${tokenName(token)}'. Add a plugin that provides it to phys.config${source.filepath === undefined ? '' : ` (${source.filepath})`}; loaded plugins: ${plugins.map((p) => p.name).join(', ') || '(none)'}.`,
          { details: { token: tokenName(token) } },
        );
      }
      return container.resolve(token);
    },
    resolveAll<T>(token: Token<T> | InjectionToken<T>): T[] {
      return container.isRegistered(token, true) ? container.resolveAll(token) : [];
    },
    isRegistered<T>(token: Token<T> | InjectionToken<T>): boolean {
      return container.isRegistered(token, true);
    },
    pipeline(name: string): PipelineDeclaration {
      const declaration = Object.hasOwn(pipelines, name) ? pipelines[name] : undefined;
      if (declaration === undefined) {
        const known = Object.keys(pipelines).sort();
        const suggestions = closestNames(name, Object.keys(pipelines));
        throw new UsageError(
          `Unknown pipeline '${name}'. ${suggestions.length === 0 ? '' : `${didYouMean(suggestions)} `}Pipelines in ${source.filepath ?? 'the config'}: ${known.join(', ') || '(none declared)'}.`,
          { details: { pipeline: name, known, suggestions } },
        );
      }
      return declaration;
    },
    async runPipeline<TOut>(
      name: string,
      run: RuntimeRunOptions = {},
    ): Promise<PipelineResult<TOut>> {
      const declaration = runtime.pipeline(name);
      if (declaration.kind === 'dag') {
        throw new UsageError(
          `Pipeline '${name}' is a DAG; runPipeline runs sequential pipelines. Run it through the executor a plugin provides (ExecutorToken), e.g. \`phys run ${name}\`, or submit it to runtime.orchestrator.`,
        );
      }
      return runSequentialDeclaration<TOut>(
        runtime,
        name,
        declaration as SequentialPipelineDeclaration,
        run,
      );
    },
    get orchestrator(): Orchestrator {
      if (disposing === undefined && container.isRegistered(OrchestratorToken, true)) {
        return container.resolve(OrchestratorToken);
      }
      if (local === undefined) {
        local = new LocalOrchestrator(runtime);
        // Disposed: a closed one, which refuses runs with PHYS_ORCHESTRATOR_CLOSED.
        if (disposing !== undefined) void local.close();
      }
      return local;
    },
    get schedules(): readonly ScheduleHandle[] {
      return Object.freeze([...declaredSchedules()]);
    },
    schedule(pipeline: string, spec: ScheduleSpec): ScheduleHandle {
      runtime.pipeline(pipeline);
      const handle = schedule(pipeline, spec);
      const list = declaredSchedules();
      const taken = list.find((s) => s.name === handle.name);
      if (taken !== undefined) {
        throw new ConfigError(
          'PHYS_CONFIG_INVALID',
          `Schedule name '${handle.name}' is taken by a schedule of pipeline '${taken.pipeline}'. Give this one a name of its own: { ..., name: '${handle.name}-2' }.`,
          { issues: [{ path: 'schedule.name', message: `'${handle.name}' is taken` }] },
        );
      }
      list.push(handle);
      return handle;
    },
    dispose(): Promise<void> {
      disposing ??= (async () => {
        await local?.close();
        const failures = await disposePlugins(started, logger);
        await container.dispose();
        if (failures.length > 0) throw failures[0];
      })();
      return disposing;
    },
  };
  Object.defineProperty(runtime, RUNTIME_BRAND, { value: true });
  return Object.freeze(runtime);
}

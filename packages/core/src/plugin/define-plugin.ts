import type { Container } from '../tokens.js';
import type { Logger } from '../logger.js';
import type { StageRegistry } from '../stage-registry.js';

const PLUGIN = Symbol.for('@phys/core:Plugin');

/** The plugin contract version this core implements. @public */
export const PLUGIN_API_VERSION = 1;

/** Capabilities a plugin may provide. Single-valued ones may be provided by one plugin only. @public */
export type Capability =
  | 'executor'
  | 'scheduler'
  | 'cache'
  | 'orchestrator'
  | 'metrics'
  | 'hooks'
  | 'stages'
  | 'sweep'
  | 'packager';

/** Capabilities at most one plugin may provide. @public */
export const SINGLE_VALUED_CAPABILITIES: readonly Capability[] = Object.freeze([
  'executor',
  'scheduler',
  'cache',
  'orchestrator',
]);

/** What a plugin's hooks receive. @public */
export interface PluginContext<TOptions = unknown> {
  readonly options: TOptions;
  /** The run's child container: register providers here. */
  readonly container: Container;
  readonly logger: Logger;
  /** Directory of the config file that loaded the plugin. */
  readonly configDir: string;
  /**
   * The config file that loaded the plugin (undefined for an in-memory config). Executors hand
   * it to worker threads and cluster jobs, which load it to rebuild stages by identity.
   */
  readonly configFile?: string | undefined;
  /**
   * Absolute directory for caches and run data: the config's `cacheDir` resolved from
   * `configDir` (default `<configDir>/.phys`). Absent only when a host builds contexts by hand.
   */
  readonly cacheDir?: string;
  /** Register stage definitions the plugin ships. */
  readonly stages: StageRegistry;
  /**
   * The command that executes one task envelope in a fresh process on this machine
   * (`[node, <task entry>]`; the envelope path is appended). Set by the host, so scheduler
   * plugins start jobs without depending on it. Absent only when a host builds contexts by hand.
   */
  readonly taskCommand?: readonly string[];
}

/**
 * A phys plugin. `register` runs synchronously for every plugin in config order, then `init`
 * (awaited, same order), and `dispose` in reverse order when the runtime closes.
 * @public
 */
export interface PhysPlugin<TOptions = unknown> {
  /** Short id used in config, logs and errors, e.g. `scheduler-slurm`. */
  readonly name: string;
  readonly version?: string;
  /** Contract version; the registry rejects versions it does not implement. */
  readonly apiVersion: number;
  readonly provides?: readonly Capability[];
  /** Options as given in the config (already validated by the plugin's factory). */
  readonly options?: TOptions;
  register(ctx: PluginContext<TOptions>): void;
  init?(ctx: PluginContext<TOptions>): Promise<void>;
  dispose?(): Promise<void>;
}

/** What a plugin package default-exports. @public */
export type PhysPluginFactory<TOptions = undefined> = (
  options: TOptions,
) => PhysPlugin<TOptions> | Promise<PhysPlugin<TOptions>>;

/** What {@link definePlugin} takes. @public */
export type PluginDefinition<TOptions> = Omit<PhysPlugin<TOptions>, 'apiVersion'> & {
  readonly apiVersion?: number;
};

/**
 * Identity plus brand: full inference for plugin authors, a runtime check for the registry.
 * @public
 */
export function definePlugin<TOptions = undefined>(
  plugin: PluginDefinition<TOptions>,
): PhysPlugin<TOptions> {
  const branded = { apiVersion: PLUGIN_API_VERSION, ...plugin };
  Object.defineProperty(branded, PLUGIN, { value: true });
  return Object.freeze(branded);
}

/** True for a plugin made by {@link definePlugin} (also by another copy of `@phys/core`). @public */
export function isPhysPlugin(value: unknown): value is PhysPlugin {
  return typeof value === 'object' && value !== null && PLUGIN in value;
}

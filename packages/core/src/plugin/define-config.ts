import type { LogLevel } from '../logger.js';
import type { NodeSpec } from '../node-spec.js';
import type { ScheduleSpec } from '../schedule.js';
import type { PipelineStage, StageDefinition } from '../stage.js';
import type { PhysPlugin } from './define-plugin.js';

/**
 * Plugin name → options type, for `[name, options]` entries. A plugin package augments it, and
 * the augmentation applies wherever the package's types are part of the program (the config
 * imports the package, or any file of the project does, or tsconfig `types` lists it):
 * ```ts
 * declare module '@phys/core' { interface PhysPluginOptionsMap { 'scheduler-slurm': SlurmOptions } }
 * ```
 * @public
 */
// biome-ignore lint/suspicious/noEmptyInterface: augmented by plugin packages
export interface PhysPluginOptionsMap {}

/** One entry of `plugins`: a plugin object, a package name, `[name, options]`, or a falsy value (skipped). @public */
export type PluginEntry =
  | PhysPlugin
  | string
  | readonly [string, unknown]
  | readonly [string]
  | false
  | null
  | undefined;

/** A sequential pipeline declared in the config. @public */
export interface SequentialPipelineDeclaration {
  readonly kind?: 'sequential';
  readonly description?: string;
  readonly stages: readonly PipelineStage[];
  /** The initial state, or a function producing it. */
  readonly initialState?: unknown;
  readonly policy?: Readonly<Record<string, unknown>>;
  /** When `phys serve` starts the pipeline by itself: one schedule or several. */
  readonly schedule?: ScheduleSpec | readonly ScheduleSpec[];
}

/** A DAG pipeline declared in the config (run by an executor plugin). @public */
export interface DagPipelineDeclaration {
  readonly kind: 'dag';
  readonly description?: string;
  readonly nodes: readonly NodeSpec[];
  readonly initialState?: unknown;
  readonly policy?: Readonly<Record<string, unknown>>;
  /** When `phys serve` starts the pipeline by itself: one schedule or several. */
  readonly schedule?: ScheduleSpec | readonly ScheduleSpec[];
}

/** @public */
export type PipelineDeclaration = SequentialPipelineDeclaration | DagPipelineDeclaration;

/** The shape of `phys.config.ts`. @public */
export interface PhysConfig {
  readonly plugins?: readonly PluginEntry[];
  /** Stage definitions that any process loading this config can rebuild by identity. */
  readonly stages?: readonly StageDefinition[];
  readonly pipelines?: Readonly<Record<string, PipelineDeclaration>>;
  /** Where caches and run data live (default `.phys` beside the config). */
  readonly cacheDir?: string;
  readonly logLevel?: LogLevel;
  /** Default policy of every run. */
  readonly policy?: Readonly<Record<string, unknown>>;
}

/** What a function-form config receives. @public */
export interface ConfigEnv {
  readonly command: string;
  readonly mode: string;
}

/**
 * The type one `plugins` entry is checked against: `[name, options]` of a plugin in
 * {@link PhysPluginOptionsMap} must give that plugin's options (or `false`); any other entry is
 * taken as written. One plain type per entry, so a wrong option is reported as one line naming
 * it ("'maxByts' does not exist ... Did you mean to write 'maxBytes'?").
 * @public
 */
export type CheckPluginEntry<E> = E extends readonly [
  infer N extends keyof PhysPluginOptionsMap,
  unknown,
]
  ? readonly [N, PhysPluginOptionsMap[N] | false]
  : E;

/**
 * What `defineConfig({ ... })` accepts: a {@link PhysConfig} whose `plugins` (inferred as `P`)
 * are checked entry by entry. The other keys are not inferred, so an unknown key (`pipeline:`
 * for `pipelines:`) is a compile error naming it.
 * @public
 */
export interface PhysConfigInput<P extends readonly PluginEntry[] = readonly PluginEntry[]>
  extends Omit<PhysConfig, 'plugins'> {
  /** As in {@link PhysConfig}, each entry checked by {@link CheckPluginEntry}. */
  readonly plugins?: { readonly [I in keyof P]: CheckPluginEntry<P[I]> };
}

/** The function form of a config: called with `{ command, mode }`, may be async. @public */
export type ConfigFunction = (env: ConfigEnv) => PhysConfig | Promise<PhysConfig>;

/**
 * Typed identity for `phys.config.ts`: `export default defineConfig({ ... })`, or
 * `defineConfig(({ command, mode }) => ({ ... }))`. In the object form an unknown key and a
 * wrong option of a plugin named in {@link PhysPluginOptionsMap} are compile errors.
 *
 * @remarks
 * One signature, no overloads, so that a mistake is reported as one short error. `F` is inferred
 * from the argument: a function must be a {@link ConfigFunction} and keeps its own type; anything
 * else is checked against {@link PhysConfigInput}.
 * @public
 */
export function defineConfig<
  const P extends readonly PluginEntry[] = readonly [],
  F = ConfigFunction,
>(
  config: [F] extends [(...args: never) => unknown]
    ? [F] extends [ConfigFunction]
      ? F
      : ConfigFunction
    : PhysConfigInput<P>,
): [F] extends [(...args: never) => unknown] ? F : PhysConfig {
  return config as never;
}

/**
 * The names a phys config file may have, in the order the host looks for them in a directory.
 * One list for the loader, the executors that hand the file to workers, and the CLI's messages.
 * @public
 */
export const CONFIG_FILE_NAMES: readonly string[] = Object.freeze([
  'phys.config.ts',
  'phys.config.mts',
  'phys.config.js',
  'phys.config.mjs',
  'phys.config.json',
  '.physrc',
  '.physrc.json',
  '.physrc.ts',
  '.physrc.js',
  '.physrc.mjs',
]);

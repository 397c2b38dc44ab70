import type { LogLevel } from '../logger.js';
import type { NodeSpec } from '../node-spec.js';
import type { PipelineStage, StageDefinition } from '../stage.js';
import type { PhysPlugin } from './define-plugin.js';

/**
 * Plugin name → options type. Plugin packages augment it so that `[name, options]` entries
 * are type-checked:
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
}

/** A DAG pipeline declared in the config (run by an executor plugin). @public */
export interface DagPipelineDeclaration {
  readonly kind: 'dag';
  readonly description?: string;
  readonly nodes: readonly NodeSpec[];
  readonly initialState?: unknown;
  readonly policy?: Readonly<Record<string, unknown>>;
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
 * Checks one `plugins` entry against the options map: `[name, options]` of a known plugin must
 * match its declared options, and a key the options do not declare must be `never`, so that a
 * misspelled optional key is an error too (plain assignability would let it through).
 * `[name, false]`, unknown names, package names and plugin objects pass.
 * @public
 */
export type CheckPluginEntry<E> = E extends readonly [infer N extends string, infer O]
  ? N extends keyof PhysPluginOptionsMap
    ? [O] extends [false]
      ? E
      : O extends PhysPluginOptionsMap[N]
        ? [Exclude<keyof O, keyof PhysPluginOptionsMap[N]>] extends [never]
          ? E
          : readonly [
              N,
              PhysPluginOptionsMap[N] & {
                readonly [K in Exclude<keyof O, keyof PhysPluginOptionsMap[N]>]: never;
              },
            ]
        : readonly [N, PhysPluginOptionsMap[N]]
    : E
  : E;

/** A config whose `[name, options]` plugin entries are checked by name. @public */
export type CheckedConfig<T> = T &
  (T extends { readonly plugins: infer P }
    ? { readonly plugins: { readonly [I in keyof P]: CheckPluginEntry<P[I]> } }
    : unknown);

/**
 * Typed identity for `phys.config.ts`. Options of known plugins (`[name, options]`) are checked
 * against the types their packages declare.
 * @public
 */
export function defineConfig<const T extends PhysConfig>(config: CheckedConfig<T>): T;
/** @public */
export function defineConfig<T extends PhysConfig>(
  config: (env: ConfigEnv) => T | Promise<T>,
): (env: ConfigEnv) => T | Promise<T>;
export function defineConfig(config: unknown): unknown {
  return config;
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

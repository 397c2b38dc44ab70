import type { z } from 'zod';
import type { ArtifactData, ArtifactWriter, LazyArtifact } from './artifacts.js';
import { StageContractError } from './errors.js';
import type { Logger } from './logger.js';
import type { PolicyBag } from './policy.js';
import { parseStageConfig } from './stage-config.js';
import { hashState } from './state/hash.js';

/** Resources granted to one execution of a node. @public */
export interface GrantedResources {
  readonly cpu: number;
  /** GPU ids granted to this node (also exported as CUDA_VISIBLE_DEVICES to child processes). */
  readonly gpuIds: readonly number[];
  readonly mpiRanks: number;
  readonly memoryBytes: number | undefined;
}

/** Everything a stage may use besides its input state. @public */
export interface StageContext<TConfig = unknown> {
  /** The stage's validated, frozen config. */
  readonly config: TConfig;
  /** Run-wide knobs (read-only). */
  readonly policy: PolicyBag;
  /** Aborted when the run is cancelled or the node times out; long stages should check it. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly resources: GrantedResources;
  readonly artifacts: ArtifactWriter;
  /** Run and node ids (the node id is the stage label in a sequential pipeline). */
  readonly runId: string;
  readonly nodeId: string;
  /** 1 for the first attempt, then 2, 3, ... on retries. */
  readonly attempt: number;
  /**
   * The parameter values of the copy this node is, such as a sweep point (`{ dt: 0.1 }`, the
   * node's `point`); undefined for a node that is not a copy. It is not part of the cache key.
   */
  readonly point?: Readonly<Record<string, unknown>> | undefined;
}

/** An artifact value: small data kept inline, data to persist, or a lazy producer. @public */
export type ArtifactValue = ArtifactData | LazyArtifact | number | boolean | null;

/** What a stage returns. @public */
export interface StageResult<TState = unknown> {
  readonly state: TState;
  /** Finite scalar metrics; namespaced by the pipeline (`pipeline.stage.metric`). */
  readonly metrics?: Readonly<Record<string, number>>;
  readonly artifacts?: Readonly<Record<string, ArtifactValue>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** A stage's identity: enough for any process that loaded the same config to rebuild it. @public */
export interface StageRef {
  readonly name: string;
  readonly version: string;
  readonly config: unknown;
}

const STAGE = Symbol.for('@phys/core:Stage');
const STAGE_DEFINITION = Symbol.for('@phys/core:StageDefinition');

/**
 * A configured stage: a definition bound to a validated, frozen config.
 * @public
 */
export interface PipelineStage<TConfig = unknown, TIn = unknown, TOut = unknown> {
  /** Registered name, e.g. `optics/propagate`. */
  readonly name: string;
  readonly version: string;
  /** Label used for metric namespaces and node ids; defaults to the name. */
  readonly label: string;
  readonly config: Readonly<TConfig>;
  readonly definition: StageDefinition<unknown, TConfig, TIn, TOut>;
  /** Hash of (name, version, config): two stages with equal configs never share it. */
  readonly configHash: string;
  readonly ref: StageRef;
  process(state: TIn, ctx: StageContext<TConfig>): StageResult<TOut> | Promise<StageResult<TOut>>;
}

/** Options when configuring a stage. @public */
export interface StageOptions {
  /** Label for metric keys and provenance; defaults to the stage name. */
  readonly label?: string;
}

/** What `defineStage` takes. @public */
export interface StageSpec<TSchema extends z.ZodType, TIn, TOut> {
  /** Registered name, unique in a config: `'<area>/<stage>'` by convention. */
  readonly name: string;
  /** Bump when the stage's behaviour changes: it is part of every cache key. */
  readonly version?: string;
  /** zod schema of the config; unknown keys are rejected at every depth. */
  readonly config: TSchema;
  /** Optional human description (shown by `phys config`). */
  readonly description?: string;
  /**
   * Preferred isolation for executors: `inline` (same thread), `thread` (worker pool) or
   * `process` (child process). Nodes may override it.
   */
  readonly isolation?: 'inline' | 'thread' | 'process';
  process(
    state: TIn,
    ctx: StageContext<z.output<TSchema>>,
  ): StageResult<TOut> | Promise<StageResult<TOut>>;
}

/**
 * The call signature of a {@link StageDefinition}. It is declared through a method so that its
 * config parameter is checked bivariantly: a typed definition (config `{ factor?: number }`) is
 * then assignable to the untyped `StageDefinition` that registries and `defineConfig({ stages })`
 * take. Callers of a typed definition still get the exact input type.
 * @public
 */
export type StageFactory<TInput, TConfig, TIn, TOut> = {
  configure(config?: TInput, options?: StageOptions): PipelineStage<TConfig, TIn, TOut>;
}['configure'];

/**
 * A stage definition: call it with a config to get a configured {@link PipelineStage}.
 * @public
 */
export interface StageDefinition<TInput = unknown, TConfig = unknown, TIn = unknown, TOut = unknown>
  extends StageFactory<TInput, TConfig, TIn, TOut> {
  readonly stageName: string;
  readonly version: string;
  readonly description: string | undefined;
  readonly isolation: 'inline' | 'thread' | 'process' | undefined;
  readonly schema: z.ZodType;
  /** Validates a config without building a stage (all issues, with paths). */
  parseConfig(config: unknown): Readonly<TConfig>;
  /** Source text of `process`, used to fingerprint the stage's code. */
  readonly source: string;
}

/** Infers the configured stage type of a definition. @public */
export type StageOf<D> =
  D extends StageDefinition<unknown, infer C, infer I, infer O> ? PipelineStage<C, I, O> : never;

/**
 * A configured stage: one compact object per configuration (sweeps make thousands), with the
 * config hash and the stage reference computed on first use. Frozen by `defineStage`; the two
 * caches are private fields, which freezing does not cover.
 */
class ConfiguredStage<TConfig, TIn, TOut> implements PipelineStage<TConfig, TIn, TOut> {
  readonly definition: StageDefinition<unknown, TConfig, TIn, TOut>;
  readonly name: string;
  readonly version: string;
  readonly label: string;
  readonly config: Readonly<TConfig>;
  readonly process: (
    state: TIn,
    ctx: StageContext<TConfig>,
  ) => StageResult<TOut> | Promise<StageResult<TOut>>;
  #hash: string | undefined;
  #ref: StageRef | undefined;

  constructor(
    definition: StageDefinition<unknown, TConfig, TIn, TOut>,
    name: string,
    version: string,
    label: string,
    config: Readonly<TConfig>,
    process: ConfiguredStage<TConfig, TIn, TOut>['process'],
  ) {
    this.definition = definition;
    this.name = name;
    this.version = version;
    this.label = label;
    this.config = config;
    this.process = process;
  }

  get configHash(): string {
    this.#hash ??= hashState({ stage: this.name, version: this.version, config: this.config });
    return this.#hash;
  }

  get ref(): StageRef {
    this.#ref ??= Object.freeze({ name: this.name, version: this.version, config: this.config });
    return this.#ref;
  }
}
Object.defineProperty(ConfiguredStage.prototype, STAGE, { value: true });

/**
 * Defines a stage with full inference of its config and state types.
 *
 * @example
 * ```ts
 * const Scale = defineStage({
 *   name: 'demo/scale',
 *   version: '1',
 *   config: z.object({ factor: z.number().default(2) }),
 *   process: (state: { x: number }, ctx) => ({ state: { x: state.x * ctx.config.factor } }),
 * });
 * const stage = Scale({ factor: 3 });
 * ```
 * @public
 */
export function defineStage<TSchema extends z.ZodType, TIn, TOut>(
  spec: StageSpec<TSchema, TIn, TOut>,
): StageDefinition<z.input<TSchema>, z.output<TSchema>, TIn, TOut> {
  if (typeof spec.name !== 'string' || spec.name.trim() === '') {
    throw new StageContractError(
      "defineStage needs a non-empty `name`, e.g. defineStage({ name: 'optics/propagate', ... }).",
    );
  }
  if (typeof spec.process !== 'function') {
    throw new StageContractError(`Stage '${spec.name}' needs a \`process(state, ctx)\` function.`);
  }
  const version = spec.version ?? '1';
  type Config = z.output<TSchema>;
  const parseConfig = (config: unknown): Readonly<Config> =>
    parseStageConfig(spec.name, spec.config, config);
  // One process function per definition, shared by all its configured stages.
  const processState = (state: TIn, ctx: StageContext<Config>) => spec.process(state, ctx);
  const create = (config?: z.input<TSchema>, options: StageOptions = {}) =>
    Object.freeze(
      new ConfiguredStage<Config, TIn, TOut>(
        definition as unknown as StageDefinition<unknown, Config, TIn, TOut>,
        spec.name,
        version,
        options.label ?? spec.name,
        parseConfig(config),
        processState,
      ),
    ) as PipelineStage<Config, TIn, TOut>;
  const definition = Object.assign(create, {
    stageName: spec.name,
    version,
    description: spec.description,
    isolation: spec.isolation,
    schema: spec.config,
    parseConfig,
    source: String(spec.process),
  });
  Object.defineProperty(definition, STAGE_DEFINITION, { value: true });
  return Object.freeze(definition) as StageDefinition<z.input<TSchema>, Config, TIn, TOut>;
}

/** True for a configured stage (also from another copy of `@phys/core`). @public */
export function isStage(value: unknown): value is PipelineStage {
  return typeof value === 'object' && value !== null && STAGE in value;
}

/** True for a stage definition made by {@link defineStage}. @public */
export function isStageDefinition(value: unknown): value is StageDefinition {
  return typeof value === 'function' && STAGE_DEFINITION in value;
}

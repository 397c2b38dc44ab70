import type { Cache } from './contracts/cache.js';
import type { Orchestrator } from './contracts/orchestrator.js';
import type { Scheduler } from './contracts/scheduler.js';
import type { PipelineHook } from './hooks.js';
import type { Logger } from './logger.js';
import type { MetricsCollector } from './metrics.js';
import type { StageRegistry } from './stage-registry.js';

// Capability tokens are plain `Symbol.for` values so that importing the contracts loads no DI
// library: the host (@phys/runtime) owns tsyringe, and any container with this shape will do.

/** A provider of a token's value: a fixed value, a factory, or a class the container builds. @public */
export type Provider<T> =
  | { readonly useValue: T }
  | { readonly useFactory: (container: Container) => T }
  | { readonly useClass: new (...args: never[]) => T };

/** How long a class provider's instance lives (the host's lifecycle values). @public */
export interface RegistrationOptions {
  readonly lifecycle: number;
}

/**
 * The run's dependency container as plugins see it: register providers under tokens, resolve
 * them. The host's tsyringe child container satisfies it.
 * @public
 */
export interface Container {
  register<T>(token: Token<T>, provider: { useValue: T }): Container;
  register<T>(token: Token<T>, provider: { useFactory: (container: Container) => T }): Container;
  register<T>(
    token: Token<T>,
    provider: { useClass: new (...args: never[]) => T },
    options?: RegistrationOptions,
  ): Container;
  resolve<T>(token: Token<T>): T;
  resolveAll<T>(token: Token<T>): T[];
  isRegistered<T>(token: Token<T>, recursive?: boolean): boolean;
}

/** A typed DI token. Identity survives duplicate installs (`Symbol.for`). @public */
export type Token<T> = symbol & { readonly __type?: T };

/** Creates a namespaced token, e.g. `createToken<Scheduler>('@phys/core:Scheduler')`. @public */
export function createToken<T>(id: string): Token<T> {
  return Symbol.for(id) as Token<T>;
}

/** The scheduler nodes are submitted to (single-valued). @public */
export const SchedulerToken: Token<Scheduler> = createToken<Scheduler>('@phys/core:Scheduler');
/** The result cache (single-valued). @public */
export const CacheToken: Token<Cache> = createToken<Cache>('@phys/core:Cache');
/** Metrics collectors (multi-valued: resolve with `resolveAll`). @public */
export const MetricsCollectorToken: Token<MetricsCollector> = createToken<MetricsCollector>(
  '@phys/core:MetricsCollector',
);
/** Lifecycle hooks (multi-valued). @public */
export const HooksToken: Token<PipelineHook> = createToken<PipelineHook>('@phys/core:Hooks');
/** The stage registry of the loaded config. @public */
export const StageRegistryToken: Token<StageRegistry> = createToken<StageRegistry>(
  '@phys/core:StageRegistry',
);
/** The run's logger. @public */
export const LoggerToken: Token<Logger> = createToken<Logger>('@phys/core:Logger');
/** The orchestrator (single-valued). @public */
export const OrchestratorToken: Token<Orchestrator> =
  createToken<Orchestrator>('@phys/core:Orchestrator');
/** Executors of DAG pipelines (single-valued). @public */
export const ExecutorToken: Token<PipelineExecutor> =
  createToken<PipelineExecutor>('@phys/core:Executor');

/** Packages model outputs of nodes marked `modelArtifact: true` (single-valued). @public */
export const PackagerToken: Token<ModelPackager> =
  createToken<ModelPackager>('@phys/core:Packager');

/**
 * Packages one node's result as a versioned model directory. Provided by a packager plugin such
 * as `@phys/ml-packager`; executors call it for nodes marked `modelArtifact: true`.
 * @public
 */
export interface ModelPackager {
  package(
    nodeId: string,
    result: import('./stage.js').StageResult,
    info: ModelPackageInfo,
  ): Promise<{ readonly path: string }>;
}

/** What an executor knows about a node it asks a {@link ModelPackager} to package. @public */
export interface ModelPackageInfo {
  /** The stage's identity: name, version, label and config hash. */
  readonly stage?: {
    readonly name: string;
    readonly version: string;
    readonly label?: string;
    readonly configHash?: string;
  };
  readonly config?: unknown;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly provenance?: Readonly<Record<string, unknown>>;
  /** The node's cache key (stable across runs and node renames). */
  readonly cacheKey?: string;
  /** Every node upstream of this one (not only direct deps), in the run's recorded order. */
  readonly lineage?: readonly { readonly nodeId: string; readonly cacheKey?: string }[];
  readonly runId?: string;
  /** True when the result was restored from the cache rather than computed in this run. */
  readonly cached?: boolean;
}

/**
 * Runs a declared DAG pipeline. Provided by an executor plugin such as `@phys/executor-dag`.
 * @public
 */
export interface PipelineExecutor {
  readonly name: string;
  execute(request: ExecuteRequest): Promise<ExecuteResult>;
}

/** @public */
export interface ExecuteRequest {
  readonly pipeline: string;
  readonly nodes: readonly import('./node-spec.js').NodeSpec[];
  readonly initialState: unknown;
  readonly container: Container;
  readonly signal?: AbortSignal;
  readonly runId?: string;
  readonly policy?: Readonly<Record<string, unknown>>;
  /** Called on every node status change (for progress displays). */
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * Persist the nodes' artifacts (and evaluate lazy ones) through `recorder`, as a sequential
   * run does with the same options; artifacts then appear in the result as references.
   */
  readonly recordArtifacts?: boolean;
  readonly recorder?: import('./artifacts.js').ArtifactRecorder;
}

/** @public */
export interface ProgressEvent {
  readonly node: string;
  readonly status: import('./status.js').NodeStatus;
  readonly counts: Readonly<Partial<Record<import('./status.js').NodeStatus, number>>>;
  readonly total: number;
}

/** @public */
export interface ExecuteResult {
  readonly status: import('./status.js').ExecutionStatus;
  readonly nodes: Readonly<
    Record<
      string,
      {
        readonly status: import('./status.js').NodeStatus;
        readonly attempts: number;
        readonly error?: import('./errors.js').SerializedPhysError;
      }
    >
  >;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts: Readonly<Record<string, unknown>>;
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly durationSeconds: number;
}

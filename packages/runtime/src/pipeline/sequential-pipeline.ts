import { randomUUID } from 'node:crypto';
import type {
  ArtifactRecorder,
  ArtifactWriter,
  GrantedResources,
  PipelineStage,
  ScheduleSpec,
  StageResult,
} from '@phys/core';
import {
  asPolicy,
  CancelledError,
  ConfigError,
  type ConfigIssue,
  defineStage,
  ExecutionStatus,
  formatIssues,
  type HookFailure,
  HookRunner,
  hashState,
  type Logger,
  PhysError,
  type PipelineHook,
  PolicyBag,
  type PolicyLike,
  RunAccumulator,
  type RunProvenance,
  StageContractError,
  StageExecutionError,
  silentLogger,
  UsageError,
} from '@phys/core';
import { z } from 'zod';
import { type ScheduleHandle, schedule } from '../schedules/parse-schedule.js';

/** @public */
export interface SequentialPipelineOptions {
  /** Namespace of metric and artifact keys (`name.stage.metric`). */
  readonly name?: string;
  /** Default policy, used when a run is given none (the empty policy when neither is set). */
  readonly policy?: PolicyLike;
  readonly hooks?: readonly PipelineHook[];
}

/** @public */
export interface PipelineRunOptions {
  /** Persist artifacts (and evaluate lazy ones) through `recorder`. */
  readonly recordArtifacts?: boolean;
  readonly recorder?: ArtifactRecorder;
  /**
   * Replaces the pipeline's default policy for this run (no merging). A run with no policy at
   * all runs with the empty policy, and records the empty policy's hash.
   */
  readonly policy?: PolicyLike;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly runId?: string;
  /** Extra hooks for this run, after the pipeline's own. */
  readonly hooks?: readonly PipelineHook[];
  /** Resources the stages are granted (default: one cpu). */
  readonly resources?: GrantedResources;
}

/** The result of a sequential run: the last state plus namespaced metrics, artifacts, provenance. @public */
export interface PipelineResult<TState = unknown> {
  readonly state: TState;
  readonly metrics: Readonly<Record<string, number>>;
  readonly artifacts: Readonly<Record<string, unknown>>;
  readonly provenance: RunProvenance;
  readonly runId: string;
  /** Hooks that threw during the run (they never break it; each is also logged as a warning). */
  readonly hookFailures: readonly HookFailure[];
}

const NESTED = Symbol.for('@phys/core:nestedRun');

interface NestedRun {
  readonly namespace: readonly string[];
  readonly recorder: ArtifactRecorder | undefined;
}

/** Inner artifacts are recorded under the outer namespace too, so files never collide. */
function prefixed(nested: NestedRun | undefined): ArtifactRecorder | undefined {
  const recorder = nested?.recorder;
  if (recorder === undefined || nested === undefined) return undefined;
  const prefix = nested.namespace.join('.');
  return { record: (key, data) => recorder.record(prefix === '' ? key : `${prefix}.${key}`, data) };
}

function writerRecorder(writer: ArtifactWriter): ArtifactRecorder | undefined {
  if (!writer.recording) return undefined;
  return {
    record: async (key, data) => {
      const ref = await writer.write(key, data);
      if (ref === undefined) {
        throw new StageContractError(
          `The artifact writer stopped recording while '${key}' was being written; a writer must not change its recording flag during a run.`,
        );
      }
      return ref;
    },
  };
}

const DEFAULT_GRANT: GrantedResources = Object.freeze({
  cpu: 1,
  gpuIds: Object.freeze([]) as readonly number[],
  mpiRanks: 1,
  memoryBytes: undefined,
});

/** Two stages with one label would silently overwrite each other's metrics and artifacts. */
function checkLabels(stages: readonly PipelineStage[], name: string): void {
  const first = new Map<string, number>();
  const issues: ConfigIssue[] = [];
  for (const [index, stage] of stages.entries()) {
    const seen = first.get(stage.label);
    if (seen === undefined) first.set(stage.label, index);
    else {
      issues.push({
        path: `stages[${index}]`,
        message: `label '${stage.label}' is already used by stages[${seen}]; give one of them its own label, e.g. Stage(config, { label: '${stage.label}-${index}' })`,
      });
    }
  }
  if (issues.length > 0) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Pipeline${name === '' ? '' : ` '${name}'`} has stages sharing a label, so their metric keys would collide:\n${formatIssues(issues)}`,
      { issues },
    );
  }
}

/**
 * Runs stages one after another, each on the previous stage's state, and gathers namespaced
 * metrics (`pipeline.stage.metric`), artifacts and per-stage provenance (config hash, policy
 * hash, version, wall time). Wrap it with {@link SequentialPipeline.asStage} to nest it.
 * @public
 */
export class SequentialPipeline<TIn = unknown, TOut = unknown> {
  readonly stages: readonly PipelineStage[];
  readonly name: string;
  #policy: PolicyBag | undefined;
  readonly #hooks: readonly PipelineHook[];

  constructor(stages: readonly PipelineStage[], options: SequentialPipelineOptions = {}) {
    checkLabels(stages, options.name ?? '');
    this.stages = Object.freeze([...stages]);
    this.name = options.name ?? '';
    this.#policy = asPolicy(options.policy);
    this.#hooks = options.hooks ?? [];
  }

  get policy(): PolicyBag | undefined {
    return this.#policy;
  }

  /** Replaces the default policy. */
  setPolicy(policy: PolicyLike | undefined): void {
    this.#policy = asPolicy(policy);
  }

  /**
   * A validated schedule of this pipeline (by its `name`), in either form, with its next fire
   * times: `pipeline.schedule({ scheduleType: 'daily', value: 3 }).nextFireTimes(3)`. `phys serve`
   * fires the schedules declared in phys.config and those added with `runtime.schedule`.
   * `PHYS_CONFIG_INVALID` naming every problem; `PHYS_USAGE` for a pipeline without a name.
   */
  schedule(spec: ScheduleSpec): ScheduleHandle {
    if (this.name === '') {
      throw new UsageError(
        'A schedule starts a pipeline by name: give this pipeline one (new SequentialPipeline(stages, { name })) and declare it in phys.config.',
      );
    }
    return schedule(this.name, spec);
  }

  async run(state: TIn, options: PipelineRunOptions = {}): Promise<PipelineResult<TOut>> {
    return this.#run(state, options, undefined);
  }

  async #run(
    state: TIn,
    options: PipelineRunOptions,
    nested: NestedRun | undefined,
  ): Promise<PipelineResult<TOut>> {
    // No policy and an empty policy are the same thing (the original hashed them differently):
    // every run has a policy, so every run and stage records the same kind of policy hash.
    const policy = asPolicy(options.policy) ?? this.#policy ?? PolicyBag.empty;
    const policyHash = policy.hash();
    const recorder =
      nested?.recorder ?? (options.recordArtifacts === true ? options.recorder : undefined);
    const namespace = nested ? [...nested.namespace] : this.name === '' ? [] : [this.name];
    const acc = new RunAccumulator({ namespace, recorder });
    acc.provenance.policyHash = policyHash;
    const runId = options.runId ?? randomUUID();
    const logger = options.logger ?? silentLogger;
    const hooks = new HookRunner([...this.#hooks, ...(options.hooks ?? [])], logger);
    const signal = options.signal ?? new AbortController().signal;
    const pipeline = this.name;
    const started = performance.now();
    hooks.emit('onPipelineStart', { pipeline, runId, context: { stages: this.stages.length } });

    let current: unknown = state;
    let status: ExecutionStatus = ExecutionStatus.COMPLETED;
    let failure: Error | undefined;
    // The stage in flight, so a failure (also a contract error raised after it returned) names it.
    let step: { readonly label: string; readonly t0: number } | undefined;
    try {
      for (const stage of this.stages) {
        if (signal.aborted) {
          throw new CancelledError(`Run ${runId} was cancelled before stage '${stage.label}'.`, {
            cause: signal.reason,
          });
        }
        step = { label: stage.label, t0: performance.now() };
        hooks.emit('onStepStart', {
          pipeline,
          runId,
          step: stage.label,
          attempt: 1,
          inputs: current,
        });
        let result: StageResult;
        try {
          const ctx = {
            config: stage.config,
            policy,
            signal,
            logger: logger.child({ stage: stage.label }),
            resources: options.resources ?? DEFAULT_GRANT,
            artifacts: acc.writer(stage.label),
            runId,
            nodeId: stage.label,
            attempt: 1,
            [NESTED]: { namespace: [...namespace, stage.label], recorder } satisfies NestedRun,
          };
          // A stage that ignores its AbortSignal is not waited for once the run is cancelled.
          result = await untilAborted(stage.process(current, ctx), signal);
        } catch (error) {
          if (PhysError.is(error)) throw error;
          if (signal.aborted) {
            throw new CancelledError(`Run ${runId} was cancelled during stage '${stage.label}'.`, {
              cause: error,
            });
          }
          throw new StageExecutionError(
            stage.label,
            `Stage '${stage.label}' failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        }
        const seconds = (performance.now() - step.t0) / 1000;
        if (typeof result !== 'object' || result === null || !('state' in result)) {
          throw new StageExecutionError(
            stage.label,
            `Stage '${stage.label}' returned ${result === null ? 'null' : typeof result}; process() must return { state, metrics?, artifacts?, provenance? }.`,
          );
        }
        const provenance: Record<string, unknown> = {
          configHash: stage.configHash,
          policyHash,
          version: stage.version,
          wallTimeSeconds: seconds,
          ...result.provenance,
        };
        const full: StageResult = { ...result, provenance };
        await acc.consume(stage.label, full);
        hooks.emit('onStepEnd', {
          pipeline,
          runId,
          step: stage.label,
          status: 'COMPLETED',
          attempt: 1,
          durationSeconds: seconds,
          outputs: full,
        });
        step = undefined;
        current = result.state;
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      status =
        PhysError.is(error) && error.code === 'PHYS_CANCELLED'
          ? ExecutionStatus.CANCELLED
          : ExecutionStatus.FAILED;
      if (step !== undefined) {
        hooks.emit('onStepEnd', {
          pipeline,
          runId,
          step: step.label,
          status,
          attempt: 1,
          durationSeconds: (performance.now() - step.t0) / 1000,
          outputs: undefined,
        });
      }
      hooks.emit('onError', { pipeline, runId, step: step?.label, error: failure });
      throw error;
    } finally {
      hooks.emit('onPipelineEnd', {
        pipeline,
        runId,
        status,
        durationSeconds: (performance.now() - started) / 1000,
        error: failure,
      });
      await hooks.flush();
    }
    return {
      state: current as TOut,
      metrics: acc.metrics,
      artifacts: acc.artifacts,
      provenance: acc.provenance,
      runId,
      hookFailures: hooks.failures,
    };
  }

  /**
   * This pipeline as one stage of another. Metric keys nest (`outer.wrap.inner.stage.metric`),
   * and artifact recording passes through to the inner stages.
   */
  asStage(label: string): PipelineStage<Readonly<Record<string, never>>, TIn, TOut> {
    const inner = this.stages.map((s) => ({
      name: s.name,
      version: s.version,
      configHash: s.configHash,
    }));
    const pipeline = this;
    const definition = defineStage({
      name: `pipeline/${label}`,
      version: hashState(inner).slice(0, 16),
      config: z.object({}),
      isolation: 'inline',
      description: `Nested pipeline '${this.name || label}' of ${this.stages.length} stage(s)`,
      async process(state: TIn, ctx) {
        const nested = (ctx as unknown as Record<symbol, NestedRun | undefined>)[NESTED];
        const result = await pipeline.#run(
          state,
          {
            ...(ctx.policy.size > 0 || pipeline.#policy === undefined
              ? { policy: ctx.policy }
              : {}),
            signal: ctx.signal,
            logger: ctx.logger,
            runId: ctx.runId,
            resources: ctx.resources,
          },
          {
            namespace: pipeline.name === '' ? [] : [pipeline.name],
            // Another runner (a DAG executor) does not set NESTED; its artifact writer still records.
            recorder: nested === undefined ? writerRecorder(ctx.artifacts) : prefixed(nested),
          },
        );
        return {
          state: result.state,
          metrics: result.metrics,
          artifacts: result.artifacts as Record<string, never>,
          provenance: { ...result.provenance, innerStages: inner },
        };
      },
    });
    return definition({}, { label });
  }
}

/**
 * `work`, or a rejection with the signal's reason as soon as `signal` aborts: the run stops
 * waiting for a stage that does not stop by itself (the stage's promise is left to settle
 * unobserved; a rejection after that is not reported).
 */
/** How long a cancelled run waits for the running stage to stop by itself. */
const STOP_WAIT_MS = 250;

function untilAborted<T>(work: T | Promise<T>, signal: AbortSignal): Promise<T> {
  const promise = Promise.resolve(work);
  if (signal.aborted) {
    // Aborted while the stage's synchronous part ran: what it returned or threw by the next
    // turn of the event loop counts.
    return new Promise<T>((resolve, reject) => {
      const late = setImmediate(() => {
        promise.catch(() => {});
        reject(signal.reason);
      });
      promise.then(
        (value) => {
          clearImmediate(late);
          resolve(value);
        },
        (error: unknown) => {
          clearImmediate(late);
          reject(error);
        },
      );
    });
  }
  return new Promise<T>((resolve, reject) => {
    let late: NodeJS.Timeout | undefined;
    // A stage that honours its signal settles within a moment, with its own error (which
    // says where it stopped); one that does not is given up on after STOP_WAIT_MS.
    const onAbort = (): void => {
      late = setTimeout(() => {
        promise.catch(() => {});
        reject(signal.reason);
      }, STOP_WAIT_MS);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(late);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(late);
        reject(error);
      },
    );
  });
}

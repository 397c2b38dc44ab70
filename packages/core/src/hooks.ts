import type { Logger } from './logger.js';
import type { StageResult } from './stage.js';
import type { ExecutionStatus, NodeStatus } from './status.js';

/** @public */
export interface PipelineStartEvent {
  readonly pipeline: string;
  readonly runId: string;
  readonly context: Readonly<Record<string, unknown>>;
}

/** @public */
export interface StepStartEvent {
  readonly pipeline: string;
  readonly runId: string;
  readonly step: string;
  readonly attempt: number;
  readonly inputs: unknown;
}

/** @public */
export interface StepEndEvent {
  readonly pipeline: string;
  readonly runId: string;
  readonly step: string;
  readonly status: NodeStatus;
  readonly attempt: number;
  readonly durationSeconds: number;
  /** The step's result; undefined when it did not complete. */
  readonly outputs: StageResult | undefined;
}

/** @public */
export interface PipelineEndEvent {
  readonly pipeline: string;
  readonly runId: string;
  readonly status: ExecutionStatus;
  readonly durationSeconds: number;
  readonly error: Error | undefined;
}

/** @public */
export interface ErrorEvent {
  readonly pipeline: string;
  readonly runId: string;
  /** The failing step, or undefined for a run-level failure. */
  readonly step: string | undefined;
  readonly error: Error;
}

/**
 * Lifecycle hooks of a run. Every method is optional; hooks run in registration order, may be
 * async, and a hook that throws is reported and never breaks the run. `onPipelineEnd` fires on
 * success, failure and cancellation alike.
 * @public
 */
export interface PipelineHook {
  readonly name?: string;
  onPipelineStart?(event: PipelineStartEvent): void | Promise<void>;
  onStepStart?(event: StepStartEvent): void | Promise<void>;
  onStepEnd?(event: StepEndEvent): void | Promise<void>;
  onPipelineEnd?(event: PipelineEndEvent): void | Promise<void>;
  onError?(event: ErrorEvent): void | Promise<void>;
}

/** A hook that threw, as reported in run results. @public */
export interface HookFailure {
  readonly hook: string;
  readonly event: keyof Omit<PipelineHook, 'name'>;
  readonly error: Error;
}

/**
 * Calls hooks in registration order, isolates their failures, and lets the caller await any
 * async hooks at the end of a run without stalling the hot path in between.
 * @public
 */
export class HookRunner {
  readonly #hooks: readonly PipelineHook[];
  readonly #logger: Logger;
  readonly #pending: Promise<void>[] = [];
  readonly failures: HookFailure[] = [];

  constructor(hooks: readonly PipelineHook[], logger: Logger) {
    this.#hooks = hooks;
    this.#logger = logger;
  }

  get empty(): boolean {
    return this.#hooks.length === 0;
  }

  emit<K extends keyof Omit<PipelineHook, 'name'>>(
    event: K,
    payload: Parameters<NonNullable<PipelineHook[K]>>[0],
  ): void {
    for (const [index, hook] of this.#hooks.entries()) {
      const fn = hook[event] as ((p: typeof payload) => void | Promise<void>) | undefined;
      if (fn === undefined) continue;
      const name = hook.name ?? `hook#${index}`;
      try {
        const out = fn.call(hook, payload);
        if (out !== undefined && typeof (out as Promise<void>).then === 'function') {
          this.#pending.push(
            (out as Promise<void>).catch((e: unknown) => this.#fail(name, event, e)),
          );
        }
      } catch (error) {
        this.#fail(name, event, error);
      }
    }
  }

  /** Awaits every async hook started so far. */
  async flush(): Promise<void> {
    while (this.#pending.length > 0) await Promise.all(this.#pending.splice(0));
  }

  #fail(hook: string, event: HookFailure['event'], error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.failures.push({ hook, event, error: err });
    this.#logger.warn(`hook '${hook}' failed in ${event}: ${err.message}`, { hook, event });
  }
}

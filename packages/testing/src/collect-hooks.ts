import type {
  ErrorEvent,
  PipelineEndEvent,
  PipelineHook,
  PipelineStartEvent,
  StepEndEvent,
  StepStartEvent,
} from '@phys/core';

/** The hook methods a `PipelineHook` may implement. @public */
export type HookEventName = keyof Omit<PipelineHook, 'name'>;

/** The event each hook method receives. @public */
export interface HookEvents {
  readonly onPipelineStart: PipelineStartEvent;
  readonly onStepStart: StepStartEvent;
  readonly onStepEnd: StepEndEvent;
  readonly onPipelineEnd: PipelineEndEvent;
  readonly onError: ErrorEvent;
}

/** One recorded hook call. @public */
export type HookRecord = {
  readonly [K in HookEventName]: { readonly type: K; readonly event: HookEvents[K] };
}[HookEventName];

/** A hook that records every call, for assertions in tests. @public */
export interface HookCollector extends Required<PipelineHook> {
  /** Every call, in order. */
  readonly records: readonly HookRecord[];
  /** The names of the calls in order, e.g. `['onPipelineStart', 'onStepStart', ...]`. */
  types(): HookEventName[];
  /** The events of one kind, in order. */
  of<K extends HookEventName>(type: K): HookEvents[K][];
  /** Forgets every recorded call. */
  clear(): void;
}

/**
 * A recording `PipelineHook`: pass it as a hook (or register it under `HooksToken`), run,
 * then assert on `types()` or `of('onStepEnd')`.
 * @public
 */
export function collectHooks(name = 'collect-hooks'): HookCollector {
  const records: HookRecord[] = [];
  return {
    name,
    records,
    onPipelineStart: (event) => void records.push({ type: 'onPipelineStart', event }),
    onStepStart: (event) => void records.push({ type: 'onStepStart', event }),
    onStepEnd: (event) => void records.push({ type: 'onStepEnd', event }),
    onPipelineEnd: (event) => void records.push({ type: 'onPipelineEnd', event }),
    onError: (event) => void records.push({ type: 'onError', event }),
    types: () => records.map((r) => r.type),
    of: ((type: HookEventName) =>
      records.filter((r) => r.type === type).map((r) => r.event)) as HookCollector['of'],
    clear: () => {
      records.length = 0;
    },
  };
}

// The shapes the public API speaks in (thread heap limits, thread pool stats, the abort a
// thread attempt listens to), in a module that depends on nothing of Node's: the declaration
// files a config imports type-check without @types/node.

/**
 * Heap limits of the worker threads running `thread` nodes: the fields of Node's
 * `worker_threads` `ResourceLimits`, given to every thread of the pool. @public
 */
export interface ThreadResourceLimits {
  /** The most memory, in MB, of the heap space for recently created objects. */
  readonly maxYoungGenerationSizeMb?: number;
  /** The most memory, in MB, of the main heap. */
  readonly maxOldGenerationSizeMb?: number;
  /** The size, in MB, of the memory range reserved for generated code. */
  readonly codeRangeSizeMb?: number;
  /** The most stack, in MB, of a thread (Node's default: 4). */
  readonly stackSizeMb?: number;
}

/** What {@link threadPoolStats} reports. @public */
export interface ThreadPoolStats {
  /** Worker threads alive, across every pool of the process. */
  readonly threads: number;
  /** Threads running an attempt. */
  readonly busy: number;
  /** Attempts waiting for a thread. */
  readonly waiting: number;
  /** The most threads the pools may have at once: the machine's cores, or more if asked. */
  readonly maxThreads: number;
}

/**
 * What a thread attempt's cancellation needs of a signal: an AbortSignal has it, and so does the
 * cheaper `AttemptAbort` the executor gives each thread attempt.
 */
export interface AbortSource {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

// What the thread pool (thread-runner.ts) and its worker threads (worker.ts) share besides
// messages: a small Int32Array per thread, and how their messages carry buffers.

/** Slot of the shared array holding `stageSlot(id)` of the task whose stage code runs, 0 when none. */
export const IN_STAGE = 0;
/** Slot of the shared array holding `stageSlot(id)` of the last task the thread began. */
export const LAST_STARTED = 1;
/** Length of the shared array. */
export const SHARED_SLOTS = 2;

/**
 * The value a slot of a thread's shared array holds for task `id` (0 stands for no task: the
 * thread is idle or loading a config).
 */
export function stageSlot(id: number): number {
  return (id % 0x3fffffff) + 1;
}

/**
 * Buffers up to this size (task inputs, answers) are copied into a message rather than moved:
 * moving a buffer detaches it and makes a new one on the other side, which costs more than
 * copying a few kilobytes, and a small input may be shared by the tasks of one message.
 */
export const COPY_BYTES = 4096;

// What the thread pool (thread-runner.ts) and its worker threads (worker.ts) share besides
// messages: a small Int32Array per thread.

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

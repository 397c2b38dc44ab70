// What the thread pool (thread-runner.ts) and its worker threads (worker.ts) share besides
// messages.

/**
 * The value slot 0 of a thread's shared `inStage` array holds while the stage code of task `id`
 * runs on it (0: no stage code running; the thread is idle or loading a config).
 */
export function stageSlot(id: number): number {
  return (id % 0x3fffffff) + 1;
}

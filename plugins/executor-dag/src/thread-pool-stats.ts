// The public view of the process's worker-thread pools, apart from thread-runner.ts so that its
// declaration file names no Node type.
import type { ThreadPoolStats } from './public-types.js';
import { ThreadPool } from './thread-runner.js';

/**
 * Threads of the process's worker-thread pools right now: for progress displays, servers and
 * tests (`thread` isolation shares one pool per process across runs and executors).
 * @public
 */
export function threadPoolStats(): ThreadPoolStats {
  return ThreadPool.stats();
}

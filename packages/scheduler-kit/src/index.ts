// @phys/scheduler-kit — what a scheduler plugin is made of: task and result envelopes on a
// shared filesystem, job bookkeeping, log tails, result outcomes, `defineSchedulerPlugin`, and
// `BatchQueueScheduler`, the whole scheduler of a queue-based cluster over a small backend.
// Depends on @phys/core only, so a third-party scheduler needs nothing else of ours at runtime.

export type {
  BatchJobRecord,
  BatchJobState,
  BatchQueueBackend,
  BatchSubmission,
  BatchTask,
} from './batch-queue-backend.js';
export type {
  BatchQueueSchedulerOptions,
  BatchQueueStats,
  BatchSubmitOptions,
} from './batch-queue-scheduler.js';
export { BatchQueueScheduler } from './batch-queue-scheduler.js';
export type {
  ReadResult,
  ResultEnvelope,
  TaskEnvelope,
  TaskEnvelopeInit,
} from './envelope.js';
export {
  atomicWrite,
  envelopePath,
  jobGrant,
  RESULT_ENVELOPE_FORMAT,
  readResultEnvelope,
  readTaskEnvelope,
  readTaskInput,
  TASK_ENVELOPE_FORMAT,
  taskEnvelopeInit,
  writeTaskEnvelope,
} from './envelope.js';
export type { EnsurePrivateDirOptions, LogTailOptions, PrivateDirStats } from './job-files.js';
export {
  ensurePrivateDir,
  logTail,
  privateDirProblem,
  safeFileName,
  userWorkRoot,
} from './job-files.js';
export type { Deferred, JobTableOptions, TrackedJob } from './job-table.js';
export { deferred, JobTable } from './job-table.js';
export { resultOutcome } from './result-outcome.js';
export type {
  SchedulerPluginDefinition,
  SchedulerPluginOptions,
  SchedulerPluginSetup,
} from './scheduler-plugin.js';
export { defineSchedulerPlugin } from './scheduler-plugin.js';

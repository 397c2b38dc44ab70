// @phys/scheduler-pbs — run phys tasks as PBS Pro / OpenPBS jobs: PBS's commands and states
// under the kit's BatchQueueScheduler.

export type { DirectiveInput } from './directives.js';
export {
  formatMemory,
  formatWalltime,
  jobName,
  parsePbsSize,
  parseWalltime,
  pbsDirectives,
  selectStatement,
} from './directives.js';
export type { PbsExitKind, PbsJobStatus } from './exit-status.js';
export { mapPbsState, PBS_EXIT_CODES, pbsJobStatus } from './exit-status.js';
export type { PbsNodeRecord } from './nodes.js';
export { execHosts, parsePbsnodesJson, pbsNodeState, pbsStalls } from './nodes.js';
export type { PbsSchedulerOptions, ResolvedPbsOptions } from './options.js';
export { pbsOptionsSchema } from './options.js';
export type { PbsCommandCounts } from './pbs-backend.js';
export type { PbsSchedulerInit, PbsSubmitOptions } from './pbs-scheduler.js';
export { PbsScheduler } from './pbs-scheduler.js';
export { default, default as schedulerPbs } from './plugin.js';
export type { PbsJobRecord, QstatResult } from './qstat.js';
export { isFinishedState, jobKey, parseQstatJson, pbsStateToStatus } from './qstat.js';

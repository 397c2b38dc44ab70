// @phys/scheduler-pbs — run phys tasks as PBS Pro / OpenPBS jobs.

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
export type { FinishedJob, PbsExitKind } from './exit-status.js';
export { interpretFinishedJob, PBS_EXIT_CODES } from './exit-status.js';
export type { PbsSchedulerOptions, ResolvedPbsOptions } from './options.js';
export { pbsOptionsSchema } from './options.js';
export type { PbsCommandCounts, PbsSubmitOptions } from './pbs-scheduler.js';
export { PbsScheduler } from './pbs-scheduler.js';
export { default, default as schedulerPbs } from './plugin.js';
export type { PbsJobRecord, QstatResult } from './qstat.js';
export { isFinishedState, jobKey, parseQstatJson, pbsStateToStatus } from './qstat.js';

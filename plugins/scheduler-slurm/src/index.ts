// @phys/scheduler-slurm — runs phys nodes as Slurm jobs: Slurm's commands and states under the
// kit's BatchQueueScheduler (task envelopes, job arrays, one squeue call per poll, scancel).

// directives
export type { DirectiveDefaults } from './directives.js';
export {
  arrayDirective,
  formatSlurmTime,
  jobName,
  resourceDirectives,
  SLURM_RESOURCE_TAGS,
  slurmCpus,
  slurmMemoryMiB,
} from './directives.js';
// the nodes of live jobs
export type { SlurmNodeInfo } from './nodes.js';
export {
  expandHostlist,
  parseSinfoNodes,
  SINFO_FORMAT,
  slurmNodeState,
  slurmStalls,
} from './nodes.js';
// options
export type { ResolvedSlurmOptions, SlurmOptions } from './options.js';
export { slurmOptionsSchema } from './options.js';
// parsing Slurm's output
export type { SlurmJobRecord } from './parse.js';
export {
  isInvalidJobIdError,
  isTransientSlurmError,
  parseExitCode,
  parseSacct,
  parseSbatchParsable,
  parseScontrolJobs,
  parseSqueue,
  SACCT_FORMAT,
  SQUEUE_FORMAT,
} from './parse.js';
// the plugin
export { default, default as schedulerSlurm } from './plugin.js';
// the scheduler
export type { SlurmSchedulerOptions, SlurmSchedulerStats } from './slurm-scheduler.js';
export { SlurmScheduler } from './slurm-scheduler.js';
// states
export type { SlurmStateInfo } from './states.js';
export {
  mapSlurmState,
  normalizeSlurmState,
  SLURM_ERROR_CODES,
  SLURM_STATES,
  UNSATISFIABLE_PENDING_REASONS,
} from './states.js';

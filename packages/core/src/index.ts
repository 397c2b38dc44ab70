// @phys/core — contracts, state hashing and codecs, stage configs, sequential pipelines,
// plugin definitions. Cheap to import from phys.config.ts; loading lives in `@phys/core/node`.

export type {
  ConfigIssue,
  PhysErrorCode,
  PhysErrorOptions,
  SerializedPhysError,
} from './errors.js';
// errors
export {
  CancelledError,
  ConfigError,
  DagValidationError,
  deserializeError,
  formatIssues,
  PhysError,
  PluginError,
  ResourceError,
  SchedulerError,
  StageConfigError,
  StageContractError,
  StageExecutionError,
  StateError,
  serializeError,
  TimeoutError,
  UsageError,
} from './errors.js';

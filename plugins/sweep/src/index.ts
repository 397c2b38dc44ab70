// @phys/sweep — parameter sweeps over phys DAGs: points from grids, zips, random draws and Latin
// hypercubes; downstream subgraphs duplicated per point with readable ids; results tables.

// the `phys sweep` command (its code is loaded by the CLI when it runs)
export { sweepCommand } from './cli/command.js';
// collecting results
export { collectResults } from './collect-results.js';
// expanding
export type { SweepPlan, SweepPoint } from './expand-sweep.js';
export { expandSweep, planSweep } from './expand-sweep.js';
// the plugin
export type { SweepPluginOptions } from './plugin.js';
export { default, sweepOptionsSchema } from './plugin.js';
// ids
export type { SweepValue } from './render-value.js';
export { renderPoint, renderValue } from './render-value.js';
// results tables
export type { ResultsJson, ResultsRow, ResultsTable } from './results-table.js';
export { RESULTS_FORMAT, rowCells, tableColumns, toCsv, toJson } from './results-table.js';
// specs
export type {
  ListSweepOptions,
  ParamRange,
  ParamSpace,
  SampledSweepOptions,
  SweepCollect,
  SweepMode,
  SweepOptions,
  SweepOptionsBase,
  SweepSpec,
} from './spec.js';
export { DEFAULT_MAX_POINTS, MAX_POINTS_CEILING } from './spec.js';
export type { SweepResultsOptions } from './sweep-results.js';
export { sweepResults } from './sweep-results.js';

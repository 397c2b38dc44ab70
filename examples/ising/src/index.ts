export type { Peak, PeakUncertainty } from './critical.js';
export {
  bootstrapPeak,
  ellipticK,
  exactHeatCapacity,
  exactHeatCapacityPeak,
  exactLogPartition,
  gaussian,
  onsagerEnergy,
  onsagerMagnetization,
  parabolicPeak,
} from './critical.js';
export type { IsingMeasurement, IsingRun } from './metropolis.js';
export {
  IsingLattice,
  MIN_BLOCK_OVER_TAU,
  ONSAGER_TC,
  SWEEPS_PER_SLICE,
  simulate,
  simulateSlices,
} from './metropolis.js';
export type { PlotOptions, PlotRow } from './plot.js';
export { renderScanPlot, scanPlotSpec, withSubscripts } from './plot.js';
export { Xoshiro128 } from './rng.js';
export type { ScanOptions } from './scan.js';
export {
  DEMO_SCAN,
  monteCarloNode,
  planScan,
  QUICK_SCAN,
  sweepArgument,
} from './scan.js';
export type { CriticalSummary, ScanRow } from './stages.js';
export { CriticalTemperature, Metropolis } from './stages.js';
export type { AutocorrelationTime, Binning, BinningLevel, Jackknife } from './statistics.js';
export {
  autocorrelation,
  autocorrelationTime,
  binningAnalysis,
  jackknife,
  standardError,
} from './statistics.js';

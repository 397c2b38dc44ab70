export type { Peak } from './critical.js';
export {
  ellipticK,
  onsagerEnergy,
  onsagerMagnetization,
  parabolicPeak,
} from './critical.js';
export type { IsingMeasurement, IsingRun } from './metropolis.js';
export {
  IsingLattice,
  ONSAGER_TC,
  SWEEPS_PER_SLICE,
  simulate,
  simulateSlices,
} from './metropolis.js';
export type { PlotOptions, PlotRow } from './plot.js';
export { renderScanPlot, scanPlotSpec } from './plot.js';
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

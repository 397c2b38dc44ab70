export type { Body, Flight, Medium, Samples } from './physics.js';
export {
  apexHeight,
  bestAngle,
  energy,
  fly,
  flySlices,
  launchBody,
  maxEnergyDrift,
  rk4Step,
  STEPS_PER_SLICE,
} from './physics.js';
export type { FlightState, FlightSummary, LaunchState, SweepSummary } from './stages.js';
export { Analyze, Collect, Integrate, Launch, STANDARD_GRAVITY } from './stages.js';
export type { SweepOptions } from './sweep.js';
export { nodeId, sweepNodes } from './sweep.js';

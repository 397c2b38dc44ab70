export type { Landing, Launch } from './flight.js';
export { fly } from './flight.js';
export type { FitOptions, ModelInput, PolynomialSurrogate } from './model.js';
export { fitSurrogate, predict, termsOf } from './model.js';
export type { SurrogateOptions } from './pipeline.js';
export { SURROGATE, surrogateNodes } from './pipeline.js';
export type { FitErrors, FlightSample, SurrogateState } from './stages.js';
export { DOMAIN, Fit, Flight } from './stages.js';

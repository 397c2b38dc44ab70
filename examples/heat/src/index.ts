export type { ConvergenceFit, HeatProblem, HeatSolution, Scheme } from './heat.js';
export { exactSolution, fitOrder, slope, solveHeat } from './heat.js';
export type { ConvergenceSummary } from './stages.js';
export { Convergence, Solve } from './stages.js';
export type { StudyOptions } from './study.js';
export { CONVERGENCE_STUDY, planStudy, solveNode } from './study.js';

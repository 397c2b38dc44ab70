// @phys/scheduler-mock — a simulated HPC cluster with injectable faults.

export type { MockHpcSchedulerInit, MockJobInfo } from './mock-hpc-scheduler.js';
export { MockHpcScheduler } from './mock-hpc-scheduler.js';
export type {
  MockFault,
  MockHpcSchedulerOptions,
  ResolvedMockFault,
  ResolvedMockHpcOptions,
} from './options.js';
export { mockFaultSchema, mockHpcOptionsSchema } from './options.js';
export { default, default as schedulerMock } from './plugin.js';

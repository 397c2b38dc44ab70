// phys-plugin-sandbox-scheduler — a third-party phys scheduler plugin.

export type { SandboxPluginOptions } from './plugin.js';
export { default } from './plugin.js';
export type { SandboxSchedulerOptions } from './sandbox-scheduler.js';
export { SandboxScheduler } from './sandbox-scheduler.js';

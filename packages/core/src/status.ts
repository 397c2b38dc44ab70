/**
 * Where a run, a job or a node stands. Every scheduler maps its native states onto these.
 * @public
 */
export const ExecutionStatus = {
  QUEUED: 'QUEUED',
  RUNNING: 'RUNNING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  TIMEOUT: 'TIMEOUT',
} as const;

/** @public */
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus];

/**
 * Node-level outcomes where a node never ran: SKIPPED (an upstream node failed) and CACHED
 * (its result came from the cache).
 * @public
 */
export const NodeStatus = {
  ...ExecutionStatus,
  SKIPPED: 'SKIPPED',
  CACHED: 'CACHED',
} as const;

/** @public */
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

const TERMINAL: ReadonlySet<string> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'CACHED',
]);
const SUCCESSFUL: ReadonlySet<string> = new Set(['COMPLETED', 'CACHED']);
const FAILED: ReadonlySet<string> = new Set(['FAILED', 'TIMEOUT']);

/** True once a status can no longer change. @public */
export function isTerminal(status: NodeStatus): boolean {
  return TERMINAL.has(status);
}

/** True for COMPLETED (and CACHED, whose result is a completed one). @public */
export function isSuccessful(status: NodeStatus): boolean {
  return SUCCESSFUL.has(status);
}

/** True for FAILED and TIMEOUT. CANCELLED is neither successful nor failed. @public */
export function isFailed(status: NodeStatus): boolean {
  return FAILED.has(status);
}

/** Parses a status name case-insensitively; returns undefined for unknown names. @public */
export function parseStatus(name: string): NodeStatus | undefined {
  const upper = name.trim().toUpperCase();
  return Object.hasOwn(NodeStatus, upper) ? (upper as NodeStatus) : undefined;
}

import { ExecutionStatus, PhysError } from '@phys/core';

// Where a run may go from each status: forward only. RUNNING → RUNNING is a new attempt.
const NEXT: Readonly<Record<ExecutionStatus, readonly ExecutionStatus[]>> = {
  QUEUED: ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  RUNNING: ['RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
  TIMEOUT: [],
};

/** True once a run's status can no longer change. */
export function isRunTerminal(status: ExecutionStatus): boolean {
  return NEXT[status].length === 0;
}

/**
 * Checks that run `jobId` may move from `from` to `to`: QUEUED → RUNNING → one terminal state,
 * never back. Anything else is a bug of the orchestrator: `PHYS_RUN_TRANSITION`.
 */
export function assertTransition(jobId: string, from: ExecutionStatus, to: ExecutionStatus): void {
  if (NEXT[from]?.includes(to) === true) return;
  throw new PhysError(
    'PHYS_RUN_TRANSITION',
    `Run '${jobId}' cannot go from ${from} to ${to}: a run moves QUEUED → RUNNING → ${[ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMEOUT].join('|')} and never back. This is a bug of the orchestrator; please report it.`,
    { details: { jobId, from, to } },
  );
}

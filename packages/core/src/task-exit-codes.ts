// Exit codes of the process that executes one task envelope (`phys exec`, the runtime's task
// entry). Schedulers read them back from the job's exit status, so they are part of the contract.

/** Exit codes of a task process (`phys exec <envelope>`): what schedulers read back. @public */
export const TASK_EXIT_CODES = Object.freeze({
  COMPLETED: 0,
  FAILED: 1,
  /** The envelope could not be read (nothing was executed, no result written). */
  UNUSABLE: 2,
  CANCELLED: 3,
  TIMEOUT: 4,
});

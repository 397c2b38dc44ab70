// Depends on nothing but Node: the CLI's signal-handling thread imports it through the
// `@phys/runtime/process-group` subpath without loading the rest of the runtime. Its signature
// names no Node type, so that the declaration files a config imports need no @types/node.

/**
 * A child process as {@link killProcessGroup} signals it: a `ChildProcess`, whose own `kill`
 * is the fallback (it never signals a process id reused after the child was reaped).
 * @public
 */
export interface SignalableProcess {
  readonly pid?: number | undefined;
  kill(signal?: string | number): boolean;
}

/**
 * Sends `signal` to the process group that `target` leads (`kill(-pid)`), so that what it
 * started stops with it; when it leads no group (it was not spawned `detached`, or the group is
 * gone), to the process alone. A process that no longer exists (or an id now another user's) is
 * not an error: returns whether anything was signalled.
 * @public
 */
export function killProcessGroup(
  target: number | SignalableProcess,
  signal: string | number = 'SIGKILL',
): boolean {
  const pid = typeof target === 'number' ? target : target.pid;
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    // No such group (not a leader, or every member is gone), or not ours to signal.
    if (!isGone(error)) throw error;
  }
  if (typeof target !== 'number') return target.kill(signal);
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    // Gone, or the id was reused by a process that is not ours.
    if (isGone(error)) return false;
    throw error;
  }
}

function isGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ESRCH' || code === 'EPERM';
}

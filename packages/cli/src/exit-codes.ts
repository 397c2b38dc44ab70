/**
 * Exit codes of the `phys` binary, by error class (the sysexits.h values that stylelint and
 * others use): a script can tell "fix the config" from "fix the command line" from "the run failed".
 * @public
 */
export const ExitCode = {
  /** Success. */
  OK: 0,
  /** The run failed (a stage threw, a node failed or timed out), or an unexpected error. */
  RUN_FAILED: 1,
  /**
   * Bad command line: unknown command, pipeline or flag, missing argument, or a plugin command
   * whose plugin the config does not list (EX_USAGE).
   */
  USAGE: 64,
  /** The config file is missing, fails to load or is invalid, or a plugin is (EX_CONFIG). */
  CONFIG: 78,
  /** The run was interrupted (SIGINT); 128 + 2 as shells report it. */
  INTERRUPTED: 130,
} as const;

/** One of the `ExitCode` values. @public */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

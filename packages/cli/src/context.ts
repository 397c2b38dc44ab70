import type { CliWritable } from '@phys/core';

// Where the CLI writes: the type plugin commands see too (a type-only import: nothing loads).
export type { CliWritable };

/**
 * Options of {@link runCli}. Every field defaults to the current process's.
 * @public
 */
export interface RunCliOptions {
  /** Results: summaries, `--json` objects, help, graphs (default `process.stdout`). */
  readonly stdout?: CliWritable;
  /** Errors, logs and the progress display (default `process.stderr`). */
  readonly stderr?: CliWritable;
  /** Directory the config search starts from (default `process.cwd()`); `--cwd` overrides it. */
  readonly cwd?: string;
  /**
   * Whether stderr is an interactive terminal: `phys run` then redraws a live progress display
   * in place instead of printing one line per event (default `stderr.isTTY`).
   */
  readonly isTTY?: boolean;
  /** Aborting it cancels a running pipeline (the binary wires it to SIGINT and SIGTERM). */
  readonly signal?: AbortSignal;
}

/** The resolved options every command works with. */
export interface CliContext {
  readonly stdout: CliWritable;
  readonly stderr: CliWritable;
  readonly cwd: string;
  readonly isTTY: boolean;
  readonly signal: AbortSignal | undefined;
  /**
   * Errors with every cause and its stack (in `--json` too): `--verbose`, `PHYS_DEBUG=1`, or a
   * config with `logLevel: 'debug'` (set once the config is loaded).
   */
  verbose: boolean;
  /** Writes `text` and a newline to stdout. */
  out(text?: string): void;
  /** Writes `text` and a newline to stderr. */
  err(text?: string): void;
}

/** Whether the environment asks for debugging output: `PHYS_DEBUG` set to anything but 0/false. */
export function debugFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.PHYS_DEBUG?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

export function createContext(options: RunCliOptions): CliContext {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  return {
    stdout,
    stderr,
    cwd: options.cwd ?? process.cwd(),
    isTTY: options.isTTY ?? stderr.isTTY === true,
    signal: options.signal,
    verbose: debugFromEnv(),
    out: (text = '') => void stdout.write(`${text}\n`),
    err: (text = '') => void stderr.write(`${text}\n`),
  };
}

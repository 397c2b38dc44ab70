import type { Logger } from '@phys/core';

/** Options of {@link recordingLogger}. @public */
export interface RecordingLoggerOptions {
  /** Keep debug lines too (default false: what `phys run` shows without `--verbose`). */
  readonly debug?: boolean;
}

/**
 * A {@link @phys/core#Logger} that keeps what it is told, to check what a user would be told.
 * @public
 */
export interface RecordingLogger extends Logger {
  /** Every line kept, in order, as `<level> <message>`: `warn Could not push metrics ...`. */
  readonly lines: string[];
  /** The messages of the warn and error lines, without their level, in order. */
  readonly warnings: readonly string[];
}

/**
 * A logger that records its lines (info, warn and error; debug on request) instead of printing
 * them, for assertions on warnings a plugin or scheduler gives. Its `child` loggers record into
 * the same lines.
 * @example
 * ```ts
 * const logger = recordingLogger();
 * await runWith({ logger });
 * expect(logger.warnings).toEqual([expect.stringContaining('is down')]);
 * ```
 * @public
 */
export function recordingLogger(options: RecordingLoggerOptions = {}): RecordingLogger {
  const lines: string[] = [];
  const keep =
    (level: string) =>
    (message: string): void =>
      void lines.push(`${level} ${message}`);
  const logger: RecordingLogger = {
    lines,
    get warnings(): readonly string[] {
      return lines.flatMap((line) => {
        const match = /^(?:warn|error) ([\s\S]*)$/.exec(line);
        return match === null ? [] : [match[1] as string];
      });
    },
    debug: options.debug === true ? keep('debug') : () => undefined,
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
    child: () => logger,
  };
  return logger;
}

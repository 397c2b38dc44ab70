/** Structured logger handed to stages and plugins. @public */
export interface Logger {
  debug(message: string, fields?: Readonly<Record<string, unknown>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Readonly<Record<string, unknown>>): Logger;
}

/** @public */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Readonly<Record<LogLevel, number>> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  silent: 100,
};

/** Logs to stderr, one line each: `level message key=value ...`. @public */
export function createConsoleLogger(
  level: LogLevel = 'info',
  base: Readonly<Record<string, unknown>> = {},
): Logger {
  const emit =
    (at: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      if (RANK[at] < RANK[level]) return;
      const all = { ...base, ...fields };
      const tail = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      process.stderr.write(`${at.padEnd(5)} ${message}${tail ? ` ${tail}` : ''}\n`);
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createConsoleLogger(level, { ...base, ...fields }),
  };
}

/** A logger that drops everything. @public */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};

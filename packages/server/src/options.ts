import { retryPolicyIssues } from '@phys/core';
import { z } from 'zod';

/** Where `phys serve` listens unless told otherwise. */
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8787;
/** 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** The environment variable with the accepted tokens, comma-separated. */
export const TOKENS_ENV = 'PHYS_SERVER_TOKENS';

/** zod schema of the `server` plugin options (and of `startServer`'s). @public */
export const serverOptionsSchema = z.strictObject({
  /** Address to bind (default 127.0.0.1). Any other than loopback requires tokens. */
  host: z.string().min(1).default(DEFAULT_HOST),
  /** TCP port (default 8787; 0 picks a free one). */
  port: z.number().int().min(0).max(65535).default(DEFAULT_PORT),
  /** The SQLite file of the runs, relative to the config's directory (default `<cacheDir>/server.sqlite`). */
  store: z.string().min(1).optional(),
  /** Accepted bearer tokens (also `PHYS_SERVER_TOKENS`, comma-separated). Never logged. */
  tokens: z
    .array(z.string().min(16, { message: 'a token needs at least 16 characters' }))
    .default([]),
  /** Runs executing at once (default 2); the others wait in the queue. */
  maxConcurrentRuns: z.number().int().min(1).default(2),
  /** Run-level retry of runs submitted without one of their own (default: none). */
  retryPolicy: z
    .custom<import('@phys/core').RetryPolicy>((value) => retryPolicyIssues(value).length === 0, {
      message: 'must be a retry policy such as { maxAttempts: 3 } (see RetryPolicy)',
    })
    .optional(),
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit: z.number().int().min(1024).default(DEFAULT_BODY_LIMIT),
  /** Origins allowed to call the API from a browser (default: none, CORS off). */
  cors: z
    .union([
      z.literal(false),
      z.strictObject({ origin: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]) }),
    ])
    .default(false),
  /** HTTPS with this certificate and key (PEM file paths, relative to the config's directory). */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /**
   * Fire the schedules of the config's pipelines (default true). Any number of servers may share
   * one store with schedules on: each fire time is claimed in the store once.
   */
  schedules: z.boolean().default(true),
  /** SQLite durability (default FULL; see the README). */
  synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
});

/** Options of the `server` plugin, as written in `phys.config.ts`. @public */
export type ServerOptions = z.input<typeof serverOptionsSchema>;

/** The options after validation and defaults. @public */
export type ResolvedServerOptions = z.output<typeof serverOptionsSchema>;

/** Whether `host` names this machine's loopback interface only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The tokens of the options and of `PHYS_SERVER_TOKENS` (comma-separated), without blanks. */
export function tokensFrom(
  options: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const fromEnv = (env[TOKENS_ENV] ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return [...new Set([...options, ...fromEnv])];
}

import {
  ConfigError,
  formatIssues,
  type RetryPolicy,
  retryPolicyIssues,
  strictSchema,
  zodIssues,
} from '@phys/core';
import { z } from 'zod';

/** The environment variable the server's URL is read from when `url` is not given. @public */
export const REMOTE_URL_ENV = 'PHYS_REMOTE';
/** The environment variable the bearer token is read from when `token` is not given. @public */
export const SERVER_TOKEN_ENV = 'PHYS_SERVER_TOKEN';

/** A retry policy as data, checked by core's own rules. */
const retryPolicySchema = z.custom<RetryPolicy>((value) => retryPolicyIssues(value).length === 0, {
  error: (issue) =>
    retryPolicyIssues(issue.input)
      .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`))
      .join('; '),
});

/**
 * zod schema of the options of the `orchestrator-remote` plugin and of `new RemoteOrchestrator`.
 * @public
 */
export const orchestratorRemoteOptionsSchema = z.object({
  /**
   * The server: `http://lab-server:8787` (the API's `/api/v1` is added; a URL that already ends
   * in `/api/v1` is taken as it is). Default: the `PHYS_REMOTE` environment variable.
   */
  url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
  /**
   * Sent as `Authorization: Bearer <token>`. Default: the `PHYS_SERVER_TOKEN` environment
   * variable. Keep tokens out of files under version control.
   */
  token: z.string().min(1).optional(),
  /** Run-level retry of the runs submitted, unless a submission gives its own (the server's default otherwise). */
  retryPolicy: retryPolicySchema.optional(),
  /**
   * How requests that met a transient failure (connection refused or reset, a timeout, a 502,
   * 503 or 504 answer) are tried again. Default: 8 attempts, 0.25 s doubling up to 5 s, jittered (about 10 s in all).
   */
  requestRetry: retryPolicySchema.optional(),
  /** Seconds one request may take before it counts as failed (and is retried). Default 30. */
  requestTimeoutSeconds: z.number().positive().max(3600).default(30),
});

/** Options of the `orchestrator-remote` plugin, as written in `phys.config.ts`. @public */
export type OrchestratorRemoteOptions = z.input<typeof orchestratorRemoteOptionsSchema>;
/** The options with their defaults filled in. @public */
export type ResolvedOrchestratorRemoteOptions = z.output<typeof orchestratorRemoteOptionsSchema>;

/**
 * Validates options for `new RemoteOrchestrator(...)`: every problem in one `ConfigError` whose
 * issue paths start at `where`.
 */
export function parseRemoteOptions(
  options: unknown,
  where: string,
): ResolvedOrchestratorRemoteOptions {
  const result = strictSchema(orchestratorRemoteOptionsSchema).safeParse(options ?? {});
  if (result.success) return result.data;
  const issues = zodIssues(result.error, [where]);
  throw new ConfigError(
    'PHYS_CONFIG_INVALID',
    `Invalid options for ${where} (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}\nSee the README of @phys/orchestrator-remote for what it accepts.`,
    { issues, details: { issues } },
  );
}

/** The API's base URL (ending in `/api/v1/`) of a server URL, from the options or `PHYS_REMOTE`. */
export function apiBase(url: string | undefined, where: string): URL {
  const given = url ?? process.env[REMOTE_URL_ENV]?.trim();
  if (given === undefined || given === '') {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `${where} needs the server's URL: give \`url\` (e.g. 'http://lab-server:8787', where \`phys serve\` listens) or set ${REMOTE_URL_ENV}.`,
      { issues: [{ path: `${where}.url`, message: 'required (or set PHYS_REMOTE)' }] },
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(given);
  } catch {
    parsed = new URL('invalid:');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `${where}: '${given}' is not an http:// or https:// URL. Give the address \`phys serve\` printed, e.g. http://127.0.0.1:8787.`,
      { issues: [{ path: `${where}.url`, message: 'an http:// or https:// URL' }] },
    );
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  parsed.pathname = `${path.endsWith('/api/v1') ? path : `${path}/api/v1`}/`;
  parsed.search = '';
  parsed.hash = '';
  return parsed;
}

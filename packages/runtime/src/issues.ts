import type { ConfigIssue, PhysError } from '@phys/core';
import { ConfigError, zodIssues } from '@phys/core';
import type { z } from 'zod';

function isIssue(value: unknown): value is ConfigIssue {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ConfigIssue).path === 'string' &&
    typeof (value as ConfigIssue).message === 'string'
  );
}

/** The `issues` of a ConfigError, also one made by another installed copy of `@phys/core`. */
export function configIssuesOf(error: PhysError): readonly ConfigIssue[] {
  const issues = (error as { issues?: unknown }).issues;
  return Array.isArray(issues) ? issues.filter(isIssue) : [];
}

/**
 * The error to throw for a `PHYS_CONFIG_INVALID` error of a plugin factory (from
 * parsePluginOptions, maybe of another copy of `@phys/core`): the same error, or, to add
 * `prefix` to its message and `details`, a ConfigError that takes its place and keeps its
 * issues, details, cause and stack frames. Never a wrapper with the error as its cause: the
 * wrapper would repeat the message, and every issue would be printed twice.
 */
export function replaceConfigError(
  error: PhysError,
  prefix = '',
  details: Readonly<Record<string, unknown>> = {},
): ConfigError {
  if (error instanceof ConfigError && prefix === '' && Object.keys(details).length === 0) {
    return error;
  }
  const issues = configIssuesOf(error);
  const replaced = new ConfigError('PHYS_CONFIG_INVALID', `${prefix}${error.message}`, {
    issues,
    ...(error.cause === undefined ? {} : { cause: error.cause }),
    details: { ...error.details, ...details, issues },
  });
  const head = `${error.name}: ${error.message}`;
  if (error.stack?.startsWith(head)) {
    replaced.stack = `${replaced.name}: ${replaced.message}${error.stack.slice(head.length)}`;
  }
  return replaced;
}

/** Path-carrying issues of a ZodError (from any copy of zod), or undefined for other errors. */
export function issuesOfZodError(
  error: unknown,
  prefix: readonly PropertyKey[],
): ConfigIssue[] | undefined {
  if (
    error instanceof Error &&
    error.name === 'ZodError' &&
    Array.isArray((error as { issues?: unknown }).issues)
  ) {
    return zodIssues(error as z.ZodError, prefix);
  }
  return undefined;
}

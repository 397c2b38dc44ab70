import type { ConfigIssue, PhysError } from '@phys/core';
import { zodIssues } from '@phys/core';
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

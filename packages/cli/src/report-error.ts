import { PhysError, type SerializedPhysError, serializeError } from '@phys/core';
import type { CliContext } from './context.js';
import { exitCodeFor } from './exit-code-for.js';
import { stringify } from './format.js';

function codeOf(error: unknown): string {
  if (PhysError.is(error)) return String(error.code);
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The human form: `error PHYS_CODE: message`, then each cause on its own `cause` line. An error
 * that is not a PhysError is a bug somewhere, so its stack is shown too.
 */
export function formatError(error: unknown): string[] {
  const lines = [`error ${codeOf(error)}: ${messageOf(error)}`];
  if (!PhysError.is(error) && error instanceof Error && error.stack !== undefined) {
    lines.push(...error.stack.split('\n').slice(1));
  }
  const seen = new Set<unknown>([error]);
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && !seen.has(cause)) {
    seen.add(cause);
    lines.push(`  cause ${codeOf(cause)}: ${messageOf(cause).replace(/\n/g, '\n    ')}`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return lines;
}

function withoutStacks(error: SerializedPhysError): SerializedPhysError {
  const { stack: _stack, cause, ...rest } = error;
  return cause === undefined ? rest : { ...rest, cause: withoutStacks(cause) };
}

/** The JSON-safe form of an error, with its cause chain and without stacks. */
export function errorToJson(error: unknown): SerializedPhysError {
  return withoutStacks(serializeError(error));
}

/** The `--json` form: `{ "error": { name, code, message, retryable, details?, cause? }, "exitCode" }`. */
export function errorJson(
  error: unknown,
  exitCode: number,
): { error: SerializedPhysError; exitCode: number } {
  return { error: errorToJson(error), exitCode };
}

/** Reports `error` (on stderr, or as one JSON object on stdout) and returns its exit code. */
export function reportError(ctx: CliContext, error: unknown, json: boolean): number {
  const exitCode = exitCodeFor(error);
  if (json) ctx.out(stringify(errorJson(error, exitCode)));
  else for (const line of formatError(error)) ctx.err(line);
  return exitCode;
}

import { PhysError, type SerializedPhysError, serializeError } from '@phys/core';
import type { CliContext } from './context.js';
import { exitCodeFor } from './exit-code-for.js';
import { stringify } from './format.js';
import { splitFrames } from './stack-frames.js';

/** The line that says how to see the stacks the short form leaves out. */
export const STACKS_HINT = '(the stacks: run again with --verbose, or with PHYS_DEBUG=1)';

/**
 * Whether a serialized error was not a PhysError where it was thrown: core serializes an error
 * without a code of its own (a `ReferenceError` in a stage) as `PHYS_TASK_FAILED` under its
 * original name, and a thread, process or cluster hop brings it back so.
 */
function isForeign(name: string, code: string): boolean {
  return code === 'PHYS_TASK_FAILED' && name !== 'PhysError';
}

/**
 * Whether `error` came from code phys did not write (a bug, or the user's own error), also after
 * a hop: it is then a bare PhysError under the original name.
 */
function isForeignError(error: unknown): boolean {
  if (!PhysError.is(error)) return true;
  if (isForeign(error.name, String(error.code))) return true;
  return Object.getPrototypeOf(error) === PhysError.prototype && error.name !== 'PhysError';
}

/** The code an error is shown with: its PHYS_* code, or a foreign error's own code or name. */
export function errorCode(error: unknown): string {
  if (PhysError.is(error)) {
    const code = String(error.code);
    return isForeign(error.name, code) ? error.name : code;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'Error';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function stackOf(error: unknown): string | undefined {
  const stack = (error as { stack?: unknown } | null)?.stack;
  return typeof stack === 'string' ? stack : undefined;
}

/** A stack's frames indented by `indent`: the user's files first, then phys's and the rest. */
function stackLines(stack: string, indent: string): string[] {
  const { user, internal } = splitFrames(stack);
  const lines = user.map((frame) => `${indent}${frame}`);
  if (internal.length > 0) {
    if (user.length > 0) lines.push(`${indent}-- phys, node_modules and Node.js frames --`);
    lines.push(...internal.map((frame) => `${indent}${frame}`));
  }
  return lines;
}

/** The errors of a cause chain, outermost first (a cycle ends it). */
function chainOf(error: unknown): unknown[] {
  const chain = [error];
  let cause = error instanceof Error ? error.cause : undefined;
  while (cause !== undefined && !chain.includes(cause)) {
    chain.push(cause);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return chain;
}

/** Whether an error or one of its causes came from code phys did not write: its stack matters. */
export function hasForeignError(error: unknown): boolean {
  return chainOf(error).some(isForeignError);
}

function headline(error: unknown, index: number): string {
  const text = `${errorCode(error)}: ${messageOf(error)}`;
  return index === 0 ? `error ${text}` : `  cause ${text.replace(/\n/g, '\n    ')}`;
}

/**
 * Every error of the chain with its stack: under each error the frames of the user's files (the
 * stage or config that threw), then, after the chain, the frames of phys, node_modules and Node.
 */
function verboseLines(chain: readonly unknown[]): string[] {
  const lines: string[] = [];
  const internals: string[] = [];
  chain.forEach((error, index) => {
    lines.push(headline(error, index));
    const stack = stackOf(error);
    if (stack === undefined) return;
    const { user, internal } = splitFrames(stack);
    const indent = index === 0 ? '    ' : '      ';
    lines.push(...user.map((frame) => `${indent}${frame}`));
    if (internal.length === 0) return;
    internals.push(`  internal frames of ${errorCode(error)} (phys, node_modules, Node.js):`);
    internals.push(...internal.map((frame) => `      ${frame}`));
  });
  return [...lines, ...internals];
}

/**
 * The human form: `error PHYS_CODE: message`, then each cause on its own `cause` line. An error
 * that is not a PhysError is a bug somewhere, so its stack is shown too; a foreign cause's stack
 * is left out, with a line saying how to see it. `verbose` shows every stack of the chain, the
 * frames of the user's files first.
 */
export function formatError(error: unknown, verbose = false): string[] {
  const chain = chainOf(error);
  if (verbose) return verboseLines(chain);
  const [first, ...causes] = chain;
  const lines = [headline(first, 0)];
  const firstStack = stackOf(first);
  if (firstStack !== undefined && isForeignError(first)) {
    lines.push(...stackLines(firstStack, '    '));
  }
  for (const cause of causes) lines.push(headline(cause, 1));
  if (causes.some(isForeignError)) lines.push(`  ${STACKS_HINT}`);
  return lines;
}

/**
 * A serialized error as the CLI prints it in JSON: a foreign error's code is its own name (as in
 * the human form), and stacks are kept only when `verbose`.
 */
export function shapeSerializedError(
  error: SerializedPhysError,
  verbose: boolean,
): SerializedPhysError {
  const { stack, cause, ...rest } = error;
  return {
    ...rest,
    ...(isForeign(error.name, error.code) ? { code: error.name } : {}),
    ...(verbose && stack !== undefined ? { stack } : {}),
    ...(cause === undefined ? {} : { cause: shapeSerializedError(cause, verbose) }),
  };
}

/** The JSON-safe form of an error, with its cause chain; stacks only when `verbose`. */
export function errorToJson(error: unknown, verbose = false): SerializedPhysError {
  return shapeSerializedError(serializeError(error), verbose);
}

/**
 * The `--json` form: `{ "error": { name, code, message, retryable, details?, stack?, cause? },
 * "exitCode" }`.
 */
export function errorJson(
  error: unknown,
  exitCode: number,
  verbose = false,
): { error: SerializedPhysError; exitCode: number } {
  return { error: errorToJson(error, verbose), exitCode };
}

/** Reports `error` (on stderr, or as one JSON object on stdout) and returns its exit code. */
export function reportError(ctx: CliContext, error: unknown, json: boolean): number {
  const exitCode = exitCodeFor(error);
  if (json) ctx.out(stringify(errorJson(error, exitCode, ctx.verbose)));
  else for (const line of formatError(error, ctx.verbose)) ctx.err(line);
  return exitCode;
}

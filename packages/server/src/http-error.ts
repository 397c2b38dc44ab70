import { PhysError, serializeError } from '@phys/core';
import type { z } from 'zod';

/** One problem of a request, at a dotted path of its body or query (`params.beta`). @public */
export interface RequestIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * An error the API answers with an HTTP status: a `PhysError` whose `details.status` is that
 * status, and whose `issues` (for a 400) say what was wrong where.
 */
export class HttpError extends PhysError {
  readonly status: number;
  readonly issues: readonly RequestIssue[] | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      readonly issues?: readonly RequestIssue[];
      readonly headers?: Readonly<Record<string, string>>;
      readonly details?: Readonly<Record<string, unknown>>;
      readonly cause?: unknown;
      readonly retryable?: boolean;
    } = {},
  ) {
    super(code, message, {
      retryable: options.retryable ?? false,
      ...(options.details === undefined ? {} : { details: options.details }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.status = status;
    this.issues = options.issues;
    this.headers = options.headers ?? {};
  }
}

/** The issues of a failed zod parse, each at its dotted path (`''` for the whole value). */
export function zodIssues(error: z.ZodError, prefix = ''): RequestIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const at = prefix === '' ? path : path === '' ? prefix : `${prefix}.${path}`;
    const keys = (issue as { keys?: readonly string[] }).keys;
    if (issue.code === 'unrecognized_keys' && keys !== undefined) {
      return {
        path: at,
        message: `unknown key${keys.length === 1 ? '' : 's'} ${keys.map((k) => `'${k}'`).join(', ')}`,
      };
    }
    return { path: at, message: issue.message };
  });
}

/** 400 `PHYS_REQUEST_INVALID` listing every issue. */
export function invalidRequest(what: string, issues: readonly RequestIssue[]): HttpError {
  const lines = issues.map((i) => `  - ${i.path === '' ? '(root)' : i.path}: ${i.message}`);
  return new HttpError(
    400,
    'PHYS_REQUEST_INVALID',
    `The ${what} is not valid:\n${lines.join('\n')}\nFix these fields (see GET /api/v1/openapi.json) and send it again.`,
    { issues },
  );
}

/** The HTTP status of a PhysError thrown by the orchestrator or the store. */
function statusOf(error: PhysError): number {
  switch (error.code) {
    case 'PHYS_RUN_NOT_FOUND':
    case 'PHYS_PIPELINE_NOT_FOUND':
    case 'PHYS_SCHEDULE_NOT_FOUND':
    case 'PHYS_NOT_FOUND':
      return 404;
    case 'PHYS_RUN_CONFLICT':
      return 409;
    case 'PHYS_USAGE':
    case 'PHYS_CONFIG_INVALID':
    case 'PHYS_REQUEST_INVALID':
      return 400;
    case 'PHYS_UNAUTHORIZED':
      return 401;
    case 'PHYS_REQUEST_TOO_LARGE':
      return 413;
    case 'PHYS_SERVER_UNAVAILABLE':
    case 'PHYS_STORE_CLOSED':
      return 503;
    default:
      return 500;
  }
}

/** The status and `{ error }` body of any error, as the API answers it (never a stack). */
export function errorResponse(error: unknown): {
  status: number;
  headers: Readonly<Record<string, string>>;
  body: { error: Record<string, unknown> };
} {
  if (error instanceof HttpError) {
    return {
      status: error.status,
      headers: error.headers,
      body: {
        error: {
          name: error.name,
          code: error.code,
          message: error.message,
          retryable: error.retryable,
          ...(error.issues === undefined ? {} : { issues: error.issues }),
          ...(error.details === undefined ? {} : { details: error.details }),
        },
      },
    };
  }
  if (PhysError.is(error)) {
    const serialized = serializeError(error);
    const issues = (error.details as { issues?: unknown } | undefined)?.issues;
    return {
      status: statusOf(error),
      headers: {},
      body: {
        error: {
          name: serialized.name,
          code: serialized.code,
          message: serialized.message,
          retryable: serialized.retryable,
          ...(Array.isArray(issues) ? { issues } : {}),
          ...(serialized.details === undefined ? {} : { details: serialized.details }),
        },
      },
    };
  }
  return {
    status: 500,
    headers: {},
    body: {
      error: {
        name: 'PhysError',
        code: 'PHYS_SERVER_ERROR',
        message:
          'The server failed while answering this request; its log says why. Try again, and report it if it persists.',
        retryable: true,
      },
    },
  };
}

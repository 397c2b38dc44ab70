const PHYS_ERROR = Symbol.for('@phys/core:PhysError');

/**
 * Stable error codes. Plugins add their own as `PHYS_<PLUGIN>_<WHAT>`.
 * @public
 */
export type PhysErrorCode =
  | 'PHYS_CONFIG_NOT_FOUND'
  | 'PHYS_CONFIG_INVALID'
  | 'PHYS_CONFIG_LOAD_FAILED'
  | 'PHYS_PLUGIN_NOT_FOUND'
  | 'PHYS_PLUGIN_INVALID'
  | 'PHYS_PLUGIN_CONFLICT'
  | 'PHYS_PLUGIN_INCOMPATIBLE'
  | 'PHYS_PLUGIN_FAILED'
  | 'PHYS_DI_UNRESOLVED'
  | 'PHYS_STAGE_CONFIG_INVALID'
  | 'PHYS_STAGE_CONTRACT'
  | 'PHYS_STAGE_FAILED'
  | 'PHYS_STAGE_UNKNOWN'
  | 'PHYS_STAGE_DUPLICATE'
  | 'PHYS_STATE_UNSUPPORTED'
  | 'PHYS_STATE_CORRUPT'
  | 'PHYS_RESOURCES_INVALID'
  | 'PHYS_DAG_INVALID'
  | 'PHYS_SCHEDULER'
  | 'PHYS_TASK_FAILED'
  | 'PHYS_CANCELLED'
  | 'PHYS_TIMEOUT'
  | 'PHYS_USAGE'
  | 'PHYS_FROZEN'
  | (string & {});

/** @public */
export interface PhysErrorOptions {
  /** The error that caused this one; never dropped. */
  readonly cause?: unknown;
  /** Whether running the same work again can succeed (schedulers and retry policies read this). */
  readonly retryable?: boolean;
  /** Structured details for programs (`--json` output, tests). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Base of every error thrown by phys packages: a stable `code`, a message that says what was
 * wrong and what to do, the original error as `cause`, and `retryable`.
 * @public
 */
export class PhysError extends Error {
  readonly code: PhysErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: PhysErrorCode, message: string, options: PhysErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** True for any PhysError, also one thrown by another installed copy of `@phys/core`. */
  static is(value: unknown): value is PhysError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[PHYS_ERROR] === true
    );
  }

  /** A plain, JSON-safe view of the error (for result envelopes and `--json` output). */
  toJSON(): SerializedPhysError {
    return serializeError(this);
  }
}
Object.defineProperty(PhysError.prototype, PHYS_ERROR, { value: true });

/** One problem found while validating a config, with the path to the offending value. @public */
export interface ConfigIssue {
  /** Dotted path, e.g. `plugins.1.options.partition` (empty for the root). */
  readonly path: string;
  readonly message: string;
}

/** Formats issues as one readable block, one issue per line. @public */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  - ${i.path === '' ? '(root)' : i.path}: ${i.message}`).join('\n');
}

/** A `phys.config.*` file is missing, fails to load, or is invalid. @public */
export class ConfigError extends PhysError {
  /** Every problem found, not only the first. */
  readonly issues: readonly ConfigIssue[];
  constructor(
    code: PhysErrorCode,
    message: string,
    options: PhysErrorOptions & { readonly issues?: readonly ConfigIssue[] } = {},
  ) {
    super(code, message, options);
    this.issues = options.issues ?? [];
  }
}

/** A plugin could not be found, is invalid, conflicts with another, or failed in a hook. @public */
export class PluginError extends PhysError {
  readonly pluginName: string;
  constructor(
    pluginName: string,
    code: PhysErrorCode,
    message: string,
    options: PhysErrorOptions = {},
  ) {
    super(code, `[${pluginName}] ${message}`, options);
    this.pluginName = pluginName;
  }
}

/** A stage config failed validation; `issues` lists every problem with its path. @public */
export class StageConfigError extends PhysError {
  readonly stage: string;
  readonly issues: readonly ConfigIssue[];
  constructor(stage: string, issues: readonly ConfigIssue[], options: PhysErrorOptions = {}) {
    super(
      'PHYS_STAGE_CONFIG_INVALID',
      `Invalid config for stage '${stage}' (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${formatIssues(issues)}\nFix the listed keys; unknown keys are rejected rather than dropped.`,
      { ...options, details: { stage, issues } },
    );
    this.stage = stage;
    this.issues = issues;
  }
}

/** A stage broke its contract (non-scalar metric, mutated input, bad result shape). @public */
export class StageContractError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_STAGE_CONTRACT', message, options);
  }
}

/** A stage threw while processing; the original error is the `cause`. @public */
export class StageExecutionError extends PhysError {
  readonly stage: string;
  constructor(stage: string, message: string, options: PhysErrorOptions = {}) {
    super('PHYS_STAGE_FAILED', message, options);
    this.stage = stage;
  }
}

/** A state value cannot be hashed or encoded, or encoded bytes are corrupt. @public */
export class StateError extends PhysError {}

/** A resource request (`cpu: "500m"`, `memory: "4Gi"`, ...) is invalid. @public */
export class ResourceError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_RESOURCES_INVALID', message, options);
  }
}

/** A DAG is invalid (duplicate id, missing dependency, cycle, ...). @public */
export class DagValidationError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_DAG_INVALID', message, options);
  }
}

/** A scheduler could not accept, run or track a task. @public */
export class SchedulerError extends PhysError {}

/** Work was cancelled (by the user, an AbortSignal, or fail-fast). @public */
export class CancelledError extends PhysError {
  constructor(message = 'The run was cancelled.', options: PhysErrorOptions = {}) {
    super('PHYS_CANCELLED', message, options);
  }
}

/** Work exceeded its time limit. @public */
export class TimeoutError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_TIMEOUT', message, { retryable: true, ...options });
  }
}

/** The command line was used wrongly (unknown pipeline, bad flag). @public */
export class UsageError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_USAGE', message, options);
  }
}

/** JSON-safe form of an error, as carried in result envelopes. @public */
export interface SerializedPhysError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly stack?: string;
  readonly cause?: SerializedPhysError;
}

/** Converts any thrown value to its JSON-safe form, keeping the cause chain. @public */
export function serializeError(error: unknown, depth = 0): SerializedPhysError {
  if (PhysError.is(error)) {
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.details === undefined ? {} : { details: jsonSafe(error.details) }),
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(error.cause === undefined || depth > 8
        ? {}
        : { cause: serializeError(error.cause, depth + 1) }),
    };
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      code: typeof code === 'string' ? code : 'PHYS_TASK_FAILED',
      message: error.message,
      retryable: false,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(error.cause === undefined || depth > 8
        ? {}
        : { cause: serializeError(error.cause, depth + 1) }),
    };
  }
  return { name: 'Error', code: 'PHYS_TASK_FAILED', message: String(error), retryable: false };
}

/** Rebuilds a PhysError from its serialized form (the inverse of {@link serializeError}). @public */
export function deserializeError(data: SerializedPhysError): PhysError {
  const error = new PhysError(data.code, data.message, {
    retryable: data.retryable,
    ...(data.details === undefined ? {} : { details: data.details }),
    ...(data.cause === undefined ? {} : { cause: deserializeError(data.cause) }),
  });
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}

function jsonSafe(value: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  try {
    return JSON.parse(
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
    ) as Record<string, unknown>;
  } catch {
    return { unserializable: true };
  }
}

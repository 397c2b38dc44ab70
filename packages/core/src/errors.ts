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
  | JobFailureCode
  | 'PHYS_TASK_FAILED'
  | 'PHYS_CANCELLED'
  | 'PHYS_TIMEOUT'
  | 'PHYS_WAIT_TIMEOUT'
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

/** A PhysError class, as {@link brandError} takes it. @public */
export type ErrorClass = abstract new (...args: never[]) => PhysError;
const ERROR_CLASSES = new Map<string, ErrorClass>();

/**
 * Makes `instanceof Class` true for instances made by another installed copy of the package
 * (a plugin's own dependency, a worker's bundle): a `Symbol.for` marker on the prototype, read by
 * `Symbol.hasInstance`. Subclasses inherit their parents' markers, so `instanceof PhysError`
 * holds for every branded subclass. Also registers the class by name for
 * {@link deserializeError}. Plugins brand their own PhysError subclasses the same way.
 * @public
 */
export function brandError<T extends ErrorClass>(Class: T, name: string): T {
  const marker = Symbol.for(`@phys/error:${name}`);
  Object.defineProperty(Class.prototype, marker, { value: true });
  Object.defineProperty(Class, Symbol.hasInstance, {
    value(this: ErrorClass, value: unknown): boolean {
      // `this` is a subclass that did not brand itself: fall back to the prototype chain.
      if (this !== Class)
        return Object.prototype.isPrototypeOf.call(this.prototype, value as object);
      return (
        typeof value === 'object' &&
        value !== null &&
        (value as Record<symbol, unknown>)[marker] === true
      );
    },
  });
  ERROR_CLASSES.set(name, Class);
  return Class;
}
brandError(PhysError, 'PhysError');

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
brandError(ConfigError, 'ConfigError');

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
brandError(PluginError, 'PluginError');

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
brandError(StageConfigError, 'StageConfigError');

/** A stage broke its contract (non-scalar metric, mutated input, bad result shape). @public */
export class StageContractError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_STAGE_CONTRACT', message, options);
  }
}
brandError(StageContractError, 'StageContractError');

/** A stage threw while processing; the original error is the `cause`. @public */
export class StageExecutionError extends PhysError {
  readonly stage: string;
  constructor(stage: string, message: string, options: PhysErrorOptions = {}) {
    super('PHYS_STAGE_FAILED', message, options);
    this.stage = stage;
  }
}
brandError(StageExecutionError, 'StageExecutionError');

/** A state value cannot be hashed or encoded, or encoded bytes are corrupt. @public */
export class StateError extends PhysError {}
brandError(StateError, 'StateError');

/** A resource request (`cpu: "500m"`, `memory: "4Gi"`, ...) is invalid. @public */
export class ResourceError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_RESOURCES_INVALID', message, options);
  }
}
brandError(ResourceError, 'ResourceError');

/** A DAG is invalid (duplicate id, missing dependency, cycle, ...). @public */
export class DagValidationError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_DAG_INVALID', message, options);
  }
}
brandError(DagValidationError, 'DagValidationError');

/** A scheduler could not accept, run or track a task. @public */
export class SchedulerError extends PhysError {}
brandError(SchedulerError, 'SchedulerError');

/** Work was cancelled (by the user, an AbortSignal, or fail-fast). @public */
export class CancelledError extends PhysError {
  constructor(message = 'The run was cancelled.', options: PhysErrorOptions = {}) {
    super('PHYS_CANCELLED', message, options);
  }
}
brandError(CancelledError, 'CancelledError');

/** Options of {@link TimeoutError}. @public */
export interface TimeoutErrorOptions extends PhysErrorOptions {
  /**
   * `PHYS_TIMEOUT` (default: the work itself exceeded its limit) or `PHYS_WAIT_TIMEOUT` (a wait
   * for work ended at its deadline while the work goes on).
   */
  readonly code?: 'PHYS_TIMEOUT' | 'PHYS_WAIT_TIMEOUT';
}

/** Work exceeded its time limit, or a wait for it ended at its deadline. @public */
export class TimeoutError extends PhysError {
  constructor(message: string, options: TimeoutErrorOptions = {}) {
    const { code = 'PHYS_TIMEOUT', ...rest } = options;
    super(code, message, { retryable: code === 'PHYS_TIMEOUT', ...rest });
  }
}
brandError(TimeoutError, 'TimeoutError');

/** The command line was used wrongly (unknown pipeline, bad flag). @public */
export class UsageError extends PhysError {
  constructor(message: string, options: PhysErrorOptions = {}) {
    super('PHYS_USAGE', message, options);
  }
}
brandError(UsageError, 'UsageError');

/**
 * Why a scheduler job ended without a result of its own, in one vocabulary for every scheduler
 * (Slurm, PBS, the mock cluster, third-party ones): each maps its native states onto these.
 * @public
 */
export type JobFailureReason =
  | 'OOM'
  | 'NODE_FAIL'
  | 'PREEMPTED'
  | 'LOST'
  | 'NO_RESULT'
  | 'EXIT'
  | 'SUBMIT_FAILED'
  | 'UNSATISFIABLE';

/** The error code of each {@link JobFailureReason}. @public */
export const JOB_FAILURE_CODES = Object.freeze({
  OOM: 'PHYS_JOB_OOM',
  NODE_FAIL: 'PHYS_JOB_NODE_FAIL',
  PREEMPTED: 'PHYS_JOB_PREEMPTED',
  LOST: 'PHYS_JOB_LOST',
  NO_RESULT: 'PHYS_JOB_NO_RESULT',
  EXIT: 'PHYS_JOB_FAILED',
  SUBMIT_FAILED: 'PHYS_JOB_SUBMIT_FAILED',
  UNSATISFIABLE: 'PHYS_JOB_UNSATISFIABLE',
} as const satisfies Record<JobFailureReason, string>);

/** A job-failure error code (`PHYS_JOB_OOM`, ...). @public */
export type JobFailureCode = (typeof JOB_FAILURE_CODES)[JobFailureReason];

/** Where and how a job failed: the scheduler's own words, kept for people and programs. @public */
export interface JobFailure {
  /** The scheduler's name, e.g. `slurm`, `pbs`, `mock`. */
  readonly scheduler: string;
  /** The scheduler's native state or status, e.g. `OUT_OF_MEMORY`, `Exit_status=-11`. */
  readonly nativeState: string;
  readonly nodeId?: string;
  readonly jobId?: string;
  readonly exitCode?: number;
  /** Extra words from the scheduler (a reason column, a log tail, a command's stderr). */
  readonly note?: string;
}

interface ReasonInfo {
  readonly retryable: boolean;
  readonly text: (what: string, f: JobFailure) => string;
}

// Each reason's retryability and message live here and nowhere else.
const REASONS: Readonly<Record<JobFailureReason, ReasonInfo>> = {
  OOM: {
    retryable: false,
    text: (what) =>
      `${what} ran out of memory. Request more in the node's resources (e.g. memory: '8Gi'); a retry with the same request fails the same way.`,
  },
  NODE_FAIL: {
    retryable: true,
    text: (what) =>
      `${what} failed because its compute node failed, not the task; it can be retried.`,
  },
  PREEMPTED: {
    retryable: true,
    text: (what) => `${what} was preempted by higher-priority work; it can be retried.`,
  },
  LOST: {
    retryable: true,
    text: (what, f) =>
      `${what} vanished from the ${f.scheduler} queue without leaving a result (purged, or the controller lost it); it can be retried.`,
  },
  NO_RESULT: {
    retryable: true,
    text: (what) =>
      `${what} ended, but its result file never appeared in the work directory. Check that the work directory is on a filesystem the compute nodes share.`,
  },
  EXIT: {
    retryable: false,
    text: (what, f) =>
      `${what} failed${f.exitCode === undefined ? '' : ` with exit code ${f.exitCode}`} before writing a result. Read the job's log for the cause.`,
  },
  SUBMIT_FAILED: {
    retryable: false,
    text: (what, f) =>
      `${what} could not be submitted to ${f.scheduler}. Check the scheduler options (partition/queue, account) against what the cluster offers.`,
  },
  UNSATISFIABLE: {
    retryable: false,
    text: (what) =>
      `${what} can never start: no node can satisfy its request. Lower the node's resources or choose another partition or queue.`,
  },
};

/**
 * A scheduler job ended without a result: one code per {@link JobFailureReason} for every
 * scheduler, with the scheduler and its native state in `details`. Whether a retry can help is
 * decided by the reason (an OOM cannot; a node failure or preemption can).
 * @public
 */
export class JobFailureError extends SchedulerError {
  readonly reason: JobFailureReason;
  readonly failure: JobFailure;
  constructor(
    reason: JobFailureReason,
    failure: JobFailure,
    options: Omit<PhysErrorOptions, 'details' | 'retryable'> = {},
  ) {
    const info = REASONS[reason];
    const what = `${failure.nodeId === undefined ? 'A task' : `Node '${failure.nodeId}'`} (${failure.scheduler}${failure.jobId === undefined ? '' : ` job ${failure.jobId}`}, ${failure.nativeState})`;
    super(
      JOB_FAILURE_CODES[reason],
      `${info.text(what, failure)}${failure.note === undefined || failure.note === '' ? '' : `\n${failure.note}`}`,
      { ...options, retryable: info.retryable, details: { reason, ...failure } },
    );
    this.reason = reason;
    this.failure = failure;
  }
}
brandError(JobFailureError, 'JobFailureError');

/** JSON-safe form of an error, as carried in result envelopes. @public */
export interface SerializedPhysError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The subclass's own fields (e.g. `issues`, `pluginName`, `reason`), restored on the far side. */
  readonly fields?: Readonly<Record<string, unknown>>;
  readonly stack?: string;
  readonly cause?: SerializedPhysError;
}

const BASE_FIELDS = new Set(['name', 'message', 'stack', 'cause', 'code', 'retryable', 'details']);

function ownFields(error: PhysError): Readonly<Record<string, unknown>> | undefined {
  let fields: Record<string, unknown> | undefined;
  for (const key of Object.keys(error)) {
    if (BASE_FIELDS.has(key)) continue;
    fields ??= {};
    fields[key] = (error as unknown as Record<string, unknown>)[key];
  }
  return fields === undefined ? undefined : jsonSafe(fields);
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
      ...withFields(ownFields(error)),
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

function withFields(fields: Readonly<Record<string, unknown>> | undefined) {
  return fields === undefined ? {} : { fields };
}

/**
 * Rebuilds an error from its serialized form (the inverse of {@link serializeError}) after a
 * thread, process or cluster hop: the same subclass when its name is a branded class
 * ({@link brandError}), with its own fields, code, retryable, details, stack and cause chain.
 * @public
 */
export function deserializeError(data: SerializedPhysError): PhysError {
  const Class = ERROR_CLASSES.get(data.name) ?? PhysError;
  // No constructor call: subclass constructors build messages from arguments we no longer have;
  // the serialized form already holds every field they set.
  const error = Object.create(Class.prototype) as PhysError;
  const set = (key: string, value: unknown): void => {
    Object.defineProperty(error, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: key !== 'stack' && key !== 'message' && key !== 'cause',
    });
  };
  set('message', data.message);
  set('name', data.name);
  set('code', data.code);
  set('retryable', data.retryable);
  set('details', data.details);
  if (data.fields !== undefined) for (const [k, v] of Object.entries(data.fields)) set(k, v);
  if (data.cause !== undefined) set('cause', deserializeError(data.cause));
  set('stack', data.stack ?? `${data.name}: ${data.message}`);
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

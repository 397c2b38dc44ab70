import {
  ConfigError,
  type ConfigIssue,
  formatIssues,
  JOB_FAILURE_CODES,
  type PhysError,
} from './errors.js';

/**
 * How often and how patiently failed work is tried again: one policy for DAG nodes
 * (`NodeSpec.retry`) and for orchestrated runs. Delay before the retry that follows failed
 * attempt n is `min(maxDelaySeconds, initialDelaySeconds × backoffMultiplier^(n-1))`, drawn
 * uniformly from [0, delay] with `jitter`.
 * @public
 */
export interface RetryPolicy {
  /** Total attempts including the first (1: no retry). */
  readonly maxAttempts: number;
  /** Seconds before the first retry (default 0 in a plain object; 1 from {@link retryPolicy}). */
  readonly initialDelaySeconds?: number;
  /** Growth of the delay per retry (default 2). */
  readonly backoffMultiplier?: number;
  /** Upper bound of one delay (default 60). */
  readonly maxDelaySeconds?: number;
  /** Full jitter: spreads retries of many nodes that failed together. */
  readonly jitter?: boolean;
  /**
   * Error codes (`PHYS_JOB_PREEMPTED`) or job-failure reasons (`PREEMPTED`) worth retrying,
   * case-insensitively; a reason also names its code (`'OOM'` matches `PHYS_JOB_OOM`), and
   * `'Timeout'` matches `PHYS_TIMEOUT`. When empty or absent, an error is retried when it says a retry can help (`retryable`), or when its
   * cause is the stage's own exception, which phys cannot judge.
   */
  readonly retryableErrors?: readonly string[];
}

// A stage threw, or its task process died without saying why: the cause is the user's code, which
// phys cannot judge, so the default policy gives it another chance. Every other error says itself
// whether a retry can help (`retryable`): a preempted job can, an out-of-memory job cannot.
const UNJUDGED: ReadonlySet<string> = new Set(['PHYS_STAGE_FAILED', 'PHYS_TASK_FAILED']);

const KEYS: ReadonlySet<string> = new Set([
  'maxAttempts',
  'initialDelaySeconds',
  'backoffMultiplier',
  'maxDelaySeconds',
  'jitter',
  'retryableErrors',
]);

/**
 * Every problem of a retry policy given as data (a config value, a node spec): unknown keys,
 * fewer than one attempt, negative or non-finite delays, a multiplier below 1.
 * @public
 */
export function retryPolicyIssues(value: unknown, path = ''): ConfigIssue[] {
  const at = (key: string): string => (path === '' ? key : `${path}.${key}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [{ path, message: 'must be an object such as { maxAttempts: 3 }' }];
  }
  const policy = value as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  for (const key of Object.keys(policy)) {
    if (!KEYS.has(key)) {
      issues.push({
        path: at(key),
        message: `unknown key; a retry policy has ${[...KEYS].join(', ')}`,
      });
    }
  }
  const { maxAttempts } = policy;
  if (typeof maxAttempts !== 'number' || !Number.isInteger(maxAttempts) || maxAttempts < 1) {
    issues.push({
      path: at('maxAttempts'),
      message: `must be a whole number ≥ 1 (total attempts, the first included), got ${String(maxAttempts)}`,
    });
  }
  for (const key of ['initialDelaySeconds', 'maxDelaySeconds'] as const) {
    const v = policy[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      issues.push({
        path: at(key),
        message: `must be a finite number of seconds ≥ 0, got ${String(v)}`,
      });
    }
  }
  const m = policy.backoffMultiplier;
  if (m !== undefined && (typeof m !== 'number' || !Number.isFinite(m) || m < 1)) {
    issues.push({
      path: at('backoffMultiplier'),
      message: `must be a finite number ≥ 1, got ${String(m)}`,
    });
  }
  if (policy.jitter !== undefined && typeof policy.jitter !== 'boolean') {
    issues.push({
      path: at('jitter'),
      message: `must be true or false, got ${String(policy.jitter)}`,
    });
  }
  const list = policy.retryableErrors;
  if (list !== undefined && (!Array.isArray(list) || list.some((c) => typeof c !== 'string'))) {
    issues.push({
      path: at('retryableErrors'),
      message: 'must be a list of error codes or reasons',
    });
  }
  return issues;
}

/**
 * A validated, frozen retry policy with the orchestration defaults filled in (3 attempts, 1 s,
 * ×2, at most 60 s, retry what {@link shouldRetry} judges retryable).
 * @public
 */
export function retryPolicy(options: Partial<RetryPolicy> = {}): Required<RetryPolicy> {
  const policy = {
    maxAttempts: options.maxAttempts ?? 3,
    initialDelaySeconds: options.initialDelaySeconds ?? 1,
    backoffMultiplier: options.backoffMultiplier ?? 2,
    maxDelaySeconds: options.maxDelaySeconds ?? 60,
    jitter: options.jitter ?? false,
    retryableErrors: Object.freeze([...(options.retryableErrors ?? [])]),
  };
  const issues = retryPolicyIssues({ ...options, ...policy });
  if (issues.length > 0) {
    throw new ConfigError('PHYS_CONFIG_INVALID', `Invalid retry policy:\n${formatIssues(issues)}`, {
      issues,
    });
  }
  return Object.freeze(policy);
}

/**
 * Whether attempt `attempt` (1-based), which just failed with `error`, may be followed by another:
 * attempts remain, the error is not a cancellation, and the error is listed in `retryableErrors`
 * (by code or job-failure reason) — or, with no list, the error says a retry can help
 * (`retryable`) or is a stage's own exception.
 * @public
 */
export function shouldRetry(
  policy: RetryPolicy | undefined,
  attempt: number,
  error: PhysError,
): boolean {
  if (policy === undefined || attempt >= policy.maxAttempts) return false;
  if (error.code === 'PHYS_CANCELLED') return false;
  const listed = policy.retryableErrors;
  if (listed !== undefined && listed.length > 0) {
    const names = retryableNames(listed);
    const reason = error.details?.reason;
    return (
      names.has(error.code.toUpperCase()) ||
      (typeof reason === 'string' && names.has(reason.toUpperCase()))
    );
  }
  return error.retryable || UNJUDGED.has(error.code);
}

// The guide's names for errors, beside the job-failure reasons (each of which names its code).
const ALIASES: Readonly<Record<string, string>> = { TIMEOUT: 'PHYS_TIMEOUT' };

/** Every upper-cased code and reason `retryableErrors` stands for, aliases resolved. */
function retryableNames(listed: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const entry of listed) {
    const upper = entry.trim().toUpperCase();
    names.add(upper);
    const code =
      ALIASES[upper] ??
      (Object.hasOwn(JOB_FAILURE_CODES, upper)
        ? JOB_FAILURE_CODES[upper as keyof typeof JOB_FAILURE_CODES]
        : undefined);
    if (code !== undefined) names.add(code);
  }
  return names;
}

/**
 * Seconds to wait after failed attempt `attempt` (1-based) before the next one.
 * @public
 */
export function retryDelaySeconds(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const initial = policy.initialDelaySeconds ?? 0;
  if (initial <= 0) return 0;
  const delay = Math.min(
    policy.maxDelaySeconds ?? 60,
    initial * (policy.backoffMultiplier ?? 2) ** Math.max(0, attempt - 1),
  );
  return policy.jitter === true ? random() * delay : delay;
}

import type { NodeRetryPolicy, PhysError } from '@phys/core';

// Errors no retry can fix: the same stage, config and input would fail the same way.
const NEVER_RETRIED: ReadonlySet<string> = new Set([
  'PHYS_CANCELLED',
  'PHYS_STAGE_CONTRACT',
  'PHYS_STAGE_CONFIG_INVALID',
  'PHYS_STAGE_UNKNOWN',
]);

/**
 * Whether attempt `attempt` (1-based, just failed with `error`) may be followed by another:
 * attempts remain, and either the error's code is listed in `retryOn`, or `retryOn` is absent or
 * empty and the error is not one that a retry cannot fix (cancellation, contract or config errors).
 */
export function shouldRetry(
  policy: NodeRetryPolicy | undefined,
  attempt: number,
  error: PhysError,
): boolean {
  if (policy === undefined || attempt >= policy.maxAttempts) return false;
  const listed = policy.retryOn;
  if (listed !== undefined && listed.length > 0) return listed.includes(error.code);
  return !NEVER_RETRIED.has(error.code);
}

/**
 * Seconds to wait before attempt `attempt + 1`: `min(maxDelaySeconds, initialDelaySeconds ×
 * multiplier^(attempt-1))`, drawn uniformly from [0, delay] with `jitter`. Defaults: no delay,
 * ×2, at most 60 s.
 */
export function retryDelaySeconds(
  policy: NodeRetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const b = policy.backoff;
  const initial = b?.initialDelaySeconds ?? 0;
  if (initial <= 0) return 0;
  const delay = Math.min(
    b?.maxDelaySeconds ?? 60,
    initial * (b?.multiplier ?? 2) ** Math.max(0, attempt - 1),
  );
  return b?.jitter === true ? random() * delay : delay;
}

import { PhysError } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { retryDelaySeconds, shouldRetry } from './retry.js';

const error = (code: string) => new PhysError(code, 'x');

describe('retry policy', () => {
  it('retries until maxAttempts, never cancellation or contract errors', () => {
    const policy = { maxAttempts: 3 };
    expect(shouldRetry(policy, 1, error('PHYS_STAGE_FAILED'))).toBe(true);
    expect(shouldRetry(policy, 2, error('PHYS_TIMEOUT'))).toBe(true);
    expect(shouldRetry(policy, 3, error('PHYS_STAGE_FAILED'))).toBe(false);
    expect(shouldRetry(policy, 1, error('PHYS_CANCELLED'))).toBe(false);
    expect(shouldRetry(policy, 1, error('PHYS_STAGE_CONTRACT'))).toBe(false);
    expect(shouldRetry(undefined, 1, error('PHYS_STAGE_FAILED'))).toBe(false);
  });

  it('retries only listed codes when retryOn is given', () => {
    const policy = { maxAttempts: 5, retryOn: ['PHYS_SLURM_PREEMPTED'] };
    expect(shouldRetry(policy, 1, error('PHYS_SLURM_PREEMPTED'))).toBe(true);
    expect(shouldRetry(policy, 1, error('PHYS_STAGE_FAILED'))).toBe(false);
  });

  it('backs off exponentially up to maxDelaySeconds, with full jitter when asked', () => {
    const backoff = { initialDelaySeconds: 1, multiplier: 3, maxDelaySeconds: 5 };
    expect([1, 2, 3].map((a) => retryDelaySeconds({ maxAttempts: 9, backoff }, a))).toEqual([
      1, 3, 5,
    ]);
    expect(retryDelaySeconds({ maxAttempts: 9 }, 4)).toBe(0);
    const jittered = retryDelaySeconds(
      { maxAttempts: 9, backoff: { ...backoff, jitter: true } },
      2,
      () => 0.5,
    );
    expect(jittered).toBe(1.5);
  });
});

import { describe, expect, it } from 'vitest';
import { ConfigError, JobFailureError, PhysError, StageExecutionError } from './errors.js';
import { retryDelaySeconds, retryPolicy, retryPolicyIssues, shouldRetry } from './retry.js';

describe('retryPolicy', () => {
  it('fills in the documented defaults', () => {
    expect(retryPolicy()).toEqual({
      maxAttempts: 3,
      initialDelaySeconds: 1,
      backoffMultiplier: 2,
      maxDelaySeconds: 60,
      jitter: false,
      retryableErrors: [],
    });
  });

  it('keeps what it is given and cannot be changed afterwards', () => {
    const codes = ['PHYS_TIMEOUT'];
    const policy = retryPolicy({ maxAttempts: 5, retryableErrors: codes });
    codes.push('PHYS_STAGE_FAILED');
    expect(policy.maxAttempts).toBe(5);
    expect(policy.retryableErrors).toEqual(['PHYS_TIMEOUT']);
    expect(Object.isFrozen(policy)).toBe(true);
    expect(Object.isFrozen(policy.retryableErrors)).toBe(true);
  });

  it('rejects impossible values, listing each with its field', () => {
    try {
      retryPolicy({
        maxAttempts: 0,
        initialDelaySeconds: -1,
        backoffMultiplier: 0.5,
        maxDelaySeconds: Number.NaN,
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('PHYS_CONFIG_INVALID');
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
        'maxAttempts',
        'initialDelaySeconds',
        'maxDelaySeconds',
        'backoffMultiplier',
      ]);
      expect((error as ConfigError).message).toContain('maxAttempts: must be a whole number ≥ 1');
    }
    expect(() => retryPolicy({ maxAttempts: 1.5 })).toThrow(ConfigError);
    expect(retryPolicy({ maxAttempts: 1, initialDelaySeconds: 0 }).maxAttempts).toBe(1);
  });
});

describe('retryDelaySeconds', () => {
  it('doubles from the initial delay, 1, 2, 4, …, and caps at maxDelaySeconds', () => {
    const policy = retryPolicy({ maxAttempts: 10 });
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((failed) => retryDelaySeconds(policy, failed));
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('follows the configured initial delay, multiplier and cap', () => {
    const policy = retryPolicy({
      initialDelaySeconds: 0.5,
      backoffMultiplier: 3,
      maxDelaySeconds: 10,
    });
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(policy, a))).toEqual([0.5, 1.5, 4.5, 10]);
  });

  it('retries at once when a plain policy gives no delay, and spreads with full jitter', () => {
    expect(retryDelaySeconds({ maxAttempts: 9 }, 4)).toBe(0);
    const policy = {
      maxAttempts: 9,
      initialDelaySeconds: 1,
      backoffMultiplier: 3,
      maxDelaySeconds: 5,
    };
    expect([1, 2, 3].map((a) => retryDelaySeconds(policy, a))).toEqual([1, 3, 5]);
    expect(retryDelaySeconds({ ...policy, jitter: true }, 2, () => 0.5)).toBe(1.5);
  });
});

const error = (code: string, retryable = false) => new PhysError(code, 'x', { retryable });

describe('shouldRetry', () => {
  it('does not retry an out-of-memory job under the default policy: the same request fails again', () => {
    const oom = new JobFailureError('OOM', { scheduler: 'slurm', nativeState: 'OUT_OF_MEMORY' });
    expect(shouldRetry(retryPolicy(), 1, oom)).toBe(false);
    expect(shouldRetry({ maxAttempts: 3 }, 1, oom)).toBe(false);
  });

  it('retries what says a retry can help: preemption, node failure, timeouts', () => {
    for (const reason of ['PREEMPTED', 'NODE_FAIL', 'LOST'] as const) {
      const failure = new JobFailureError(reason, { scheduler: 'pbs', nativeState: 'x' });
      expect(shouldRetry({ maxAttempts: 2 }, 1, failure)).toBe(true);
    }
    expect(shouldRetry({ maxAttempts: 2 }, 1, error('PHYS_TIMEOUT', true))).toBe(true);
  });

  it("retries a stage's own exception, whose cause phys cannot judge, until attempts run out", () => {
    const thrown = new StageExecutionError('fit', 'boom');
    expect(shouldRetry({ maxAttempts: 3 }, 1, thrown)).toBe(true);
    expect(shouldRetry({ maxAttempts: 3 }, 3, thrown)).toBe(false);
    expect(shouldRetry(undefined, 1, thrown)).toBe(false);
  });

  it('never retries cancellation, contract or config errors', () => {
    for (const code of ['PHYS_CANCELLED', 'PHYS_STAGE_CONTRACT', 'PHYS_STAGE_CONFIG_INVALID']) {
      expect(shouldRetry({ maxAttempts: 3 }, 1, error(code))).toBe(false);
    }
  });

  it('retries only listed codes or job-failure reasons, and never cancellation even when listed', () => {
    const policy = retryPolicy({ retryableErrors: ['PHYS_TIMEOUT', 'OOM', 'PHYS_CANCELLED'] });
    expect(shouldRetry(policy, 1, error('PHYS_TIMEOUT', true))).toBe(true);
    expect(
      shouldRetry(policy, 1, new JobFailureError('OOM', { scheduler: 's', nativeState: 'x' })),
    ).toBe(true);
    expect(shouldRetry(policy, 1, new StageExecutionError('fit', 'boom'))).toBe(false);
    expect(shouldRetry(policy, 1, error('PHYS_CANCELLED'))).toBe(false);
  });

  it("takes the orchestration guide's names ('OOM', 'Timeout') case-insensitively", () => {
    const policy = retryPolicy({ retryableErrors: ['oom', 'Timeout'] });
    expect(shouldRetry(policy, 1, error('PHYS_JOB_OOM'))).toBe(true);
    expect(
      shouldRetry(policy, 1, new JobFailureError('OOM', { scheduler: 's', nativeState: 'x' })),
    ).toBe(true);
    expect(shouldRetry(policy, 1, error('PHYS_TIMEOUT', true))).toBe(true);
    expect(shouldRetry(policy, 1, error('PHYS_JOB_PREEMPTED', true))).toBe(false);
    expect(
      shouldRetry(retryPolicy({ retryableErrors: ['phys_job_oom'] }), 1, error('PHYS_JOB_OOM')),
    ).toBe(true);
  });
});

describe('retryPolicyIssues', () => {
  it('names unknown keys instead of dropping them', () => {
    expect(retryPolicyIssues({ maxAttempts: 2, retryOn: ['X'] }, 'nodes.0.retry')).toEqual([
      expect.objectContaining({ path: 'nodes.0.retry.retryOn' }),
    ]);
    expect(retryPolicyIssues({ maxAttempts: 2, initialDelaySeconds: 0.5 })).toEqual([]);
    expect(retryPolicyIssues(3)[0]?.message).toContain('maxAttempts');
  });
});

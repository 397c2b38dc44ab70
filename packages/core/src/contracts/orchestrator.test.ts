import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { isRetryableCode, retryDelaySeconds, retryPolicy } from './orchestrator.js';

describe('retryPolicy', () => {
  it('fills in the documented defaults', () => {
    expect(retryPolicy()).toEqual({
      maxAttempts: 3,
      initialDelaySeconds: 1,
      backoffMultiplier: 2,
      maxDelaySeconds: 60,
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
    const delays = [2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) =>
      retryDelaySeconds(policy, attempt),
    );
    expect(delays).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('follows the configured initial delay, multiplier and cap', () => {
    const policy = retryPolicy({
      initialDelaySeconds: 0.5,
      backoffMultiplier: 3,
      maxDelaySeconds: 10,
    });
    expect([2, 3, 4, 5].map((a) => retryDelaySeconds(policy, a))).toEqual([0.5, 1.5, 4.5, 10]);
  });
});

describe('isRetryableCode', () => {
  it('retries every code but cancellation when no list is given', () => {
    const policy = retryPolicy();
    expect(isRetryableCode(policy, 'PHYS_STAGE_FAILED')).toBe(true);
    expect(isRetryableCode(policy, 'PHYS_TIMEOUT')).toBe(true);
    expect(isRetryableCode(policy, 'PHYS_CANCELLED')).toBe(false);
  });

  it('retries only the listed codes, and never cancellation even when listed', () => {
    const policy = retryPolicy({ retryableErrors: ['PHYS_TIMEOUT', 'PHYS_CANCELLED'] });
    expect(isRetryableCode(policy, 'PHYS_TIMEOUT')).toBe(true);
    expect(isRetryableCode(policy, 'PHYS_STAGE_FAILED')).toBe(false);
    expect(isRetryableCode(policy, 'PHYS_CANCELLED')).toBe(false);
  });
});

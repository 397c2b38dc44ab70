import { describe, expect, it } from 'vitest';
import {
  ExecutionStatus,
  isFailed,
  isSuccessful,
  isTerminal,
  NodeStatus,
  parseStatus,
} from './status.js';

describe('status predicates', () => {
  // [status, terminal, successful, failed]
  const table: readonly [NodeStatus, boolean, boolean, boolean][] = [
    ['QUEUED', false, false, false],
    ['RUNNING', false, false, false],
    ['COMPLETED', true, true, false],
    ['FAILED', true, false, true],
    ['CANCELLED', true, false, false],
    ['TIMEOUT', true, false, true],
    ['SKIPPED', true, false, false],
    ['CACHED', true, true, false],
  ];

  it('covers every status value', () => {
    expect(table.map(([s]) => s).sort()).toEqual(Object.values(NodeStatus).sort());
    expect(Object.values(ExecutionStatus)).toEqual([
      'QUEUED',
      'RUNNING',
      'COMPLETED',
      'FAILED',
      'CANCELLED',
      'TIMEOUT',
    ]);
  });

  it.each(table)('%s: terminal=%s successful=%s failed=%s', (status, terminal, ok, failed) => {
    expect(isTerminal(status)).toBe(terminal);
    expect(isSuccessful(status)).toBe(ok);
    expect(isFailed(status)).toBe(failed);
  });
});

describe('parseStatus', () => {
  it('parses names case-insensitively and ignores surrounding space', () => {
    expect(parseStatus('completed')).toBe('COMPLETED');
    expect(parseStatus(' Cached ')).toBe('CACHED');
    expect(parseStatus('TIMEOUT')).toBe(ExecutionStatus.TIMEOUT);
    expect(parseStatus('skipped')).toBe(NodeStatus.SKIPPED);
  });

  it('returns undefined for anything that is not a status', () => {
    expect(parseStatus('PENDING')).toBeUndefined();
    expect(parseStatus('')).toBeUndefined();
    expect(parseStatus('constructor')).toBeUndefined();
    expect(parseStatus('__proto__')).toBeUndefined();
  });
});

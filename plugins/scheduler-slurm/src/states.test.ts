import { ExecutionStatus } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { mapSlurmState, normalizeSlurmState, SLURM_STATES } from './states.js';

describe('mapSlurmState', () => {
  it.each([
    ['PENDING', ExecutionStatus.QUEUED, false, undefined, false],
    ['CONFIGURING', ExecutionStatus.QUEUED, false, undefined, false],
    ['REQUEUED', ExecutionStatus.QUEUED, false, undefined, false],
    ['RUNNING', ExecutionStatus.RUNNING, false, undefined, false],
    ['COMPLETING', ExecutionStatus.RUNNING, false, undefined, false],
    ['SUSPENDED', ExecutionStatus.RUNNING, false, undefined, false],
    ['COMPLETED', ExecutionStatus.COMPLETED, true, undefined, false],
    ['FAILED', ExecutionStatus.FAILED, true, 'PHYS_SCHEDULER_SLURM_JOB_FAILED', false],
    ['OUT_OF_MEMORY', ExecutionStatus.FAILED, true, 'PHYS_SCHEDULER_SLURM_OOM', false],
    ['TIMEOUT', ExecutionStatus.TIMEOUT, true, 'PHYS_TIMEOUT', true],
    ['DEADLINE', ExecutionStatus.TIMEOUT, true, 'PHYS_TIMEOUT', false],
    ['CANCELLED', ExecutionStatus.CANCELLED, true, 'PHYS_CANCELLED', false],
    ['NODE_FAIL', ExecutionStatus.FAILED, true, 'PHYS_SCHEDULER_SLURM_NODE_FAIL', true],
    ['BOOT_FAIL', ExecutionStatus.FAILED, true, 'PHYS_SCHEDULER_SLURM_NODE_FAIL', true],
    ['PREEMPTED', ExecutionStatus.FAILED, true, 'PHYS_SCHEDULER_SLURM_PREEMPTED', true],
  ])('%s → %s', (state, status, terminal, code, retryable) => {
    const info = mapSlurmState(state);
    expect(info).toMatchObject({ status, terminal, retryable, known: true });
    expect(info.code).toBe(code);
  });

  it('reads short codes and sacct forms', () => {
    expect(mapSlurmState('PD').status).toBe(ExecutionStatus.QUEUED);
    expect(mapSlurmState('OOM').code).toBe('PHYS_SCHEDULER_SLURM_OOM');
    expect(mapSlurmState('CANCELLED by 1000').status).toBe(ExecutionStatus.CANCELLED);
    expect(mapSlurmState('CANCELLED+').status).toBe(ExecutionStatus.CANCELLED);
    expect(normalizeSlurmState(' to ')).toBe('TIMEOUT');
  });

  it('treats a state it does not know as still running, so the job keeps being watched', () => {
    expect(mapSlurmState('WARPED')).toMatchObject({
      status: ExecutionStatus.RUNNING,
      terminal: false,
      known: false,
    });
  });

  it('maps every terminal state to an error code, except COMPLETED', () => {
    for (const [state, info] of Object.entries(SLURM_STATES)) {
      if (!info.terminal || state === 'COMPLETED') continue;
      expect(info.code, state).toMatch(/^PHYS_/);
      expect(info.status, state).not.toBe(ExecutionStatus.COMPLETED);
    }
  });
});

import { ExecutionStatus } from '@phys/core';
import { describe, expect, it } from 'vitest';
import { mapSlurmState, normalizeSlurmState, SLURM_STATES } from './states.js';

describe('mapSlurmState', () => {
  it.each([
    ['PENDING', ExecutionStatus.QUEUED, false, undefined],
    ['CONFIGURING', ExecutionStatus.QUEUED, false, undefined],
    ['REQUEUED', ExecutionStatus.QUEUED, false, undefined],
    ['RUNNING', ExecutionStatus.RUNNING, false, undefined],
    ['COMPLETING', ExecutionStatus.RUNNING, false, undefined],
    ['SUSPENDED', ExecutionStatus.RUNNING, false, undefined],
    ['COMPLETED', ExecutionStatus.COMPLETED, true, undefined],
    // The task's result, else its exit code, says why a FAILED job failed.
    ['FAILED', ExecutionStatus.FAILED, true, undefined],
    ['OUT_OF_MEMORY', ExecutionStatus.FAILED, true, 'OOM'],
    ['TIMEOUT', ExecutionStatus.TIMEOUT, true, undefined],
    ['DEADLINE', ExecutionStatus.TIMEOUT, true, undefined],
    ['CANCELLED', ExecutionStatus.CANCELLED, true, undefined],
    ['NODE_FAIL', ExecutionStatus.FAILED, true, 'NODE_FAIL'],
    ['BOOT_FAIL', ExecutionStatus.FAILED, true, 'NODE_FAIL'],
    ['PREEMPTED', ExecutionStatus.FAILED, true, 'PREEMPTED'],
    ['REVOKED', ExecutionStatus.FAILED, true, 'PREEMPTED'],
  ])('%s → %s', (state, status, terminal, failure) => {
    const info = mapSlurmState(state);
    expect(info).toMatchObject({ status, terminal, known: true });
    expect(info.failure).toBe(failure);
  });

  it('reads short codes and sacct forms', () => {
    expect(mapSlurmState('PD').status).toBe(ExecutionStatus.QUEUED);
    expect(mapSlurmState('OOM').failure).toBe('OOM');
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

  it('gives every terminal FAILED state but FAILED and SPECIAL_EXIT a job-failure reason', () => {
    for (const [state, info] of Object.entries(SLURM_STATES)) {
      if (!info.terminal || info.status !== ExecutionStatus.FAILED) continue;
      if (state === 'FAILED' || state === 'SPECIAL_EXIT')
        expect(info.failure, state).toBeUndefined();
      else expect(info.failure, state).toMatch(/^(OOM|NODE_FAIL|PREEMPTED)$/);
    }
  });
});

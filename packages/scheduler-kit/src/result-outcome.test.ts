import { describe, expect, it } from 'vitest';
import type { ReadResult, ResultEnvelope } from './envelope.js';
import { resultOutcome } from './result-outcome.js';

const granted = Object.freeze({ cpu: 2, gpuIds: [0], mpiRanks: 1, memoryBytes: undefined });

function read(
  envelope: Partial<ResultEnvelope>,
  rest: Partial<Omit<ReadResult, 'envelope'>> = {},
): ReadResult {
  return {
    envelope: {
      format: 'phys-result/1',
      runId: 'r',
      nodeId: 'n',
      attempt: 1,
      status: 'COMPLETED',
      startedAt: '2024-01-01T00:00:00.000Z',
      finishedAt: '2024-01-01T00:00:01.000Z',
      ...envelope,
    },
    state: rest.state,
    artifacts: rest.artifacts,
  };
}

describe('resultOutcome', () => {
  it('carries a completed task’s state, metrics, artifacts and provenance', () => {
    const state = { values: new Float64Array([1, 2]) };
    const outcome = resultOutcome(
      read(
        { metrics: { loss: 0.5 }, provenance: { host: 'cn01' } },
        { state, artifacts: { plot: 'p.png' } },
      ),
      granted,
    );
    expect(outcome).toEqual({
      status: 'COMPLETED',
      state,
      metrics: { loss: 0.5 },
      artifacts: { plot: 'p.png' },
      provenance: { host: 'cn01' },
      granted,
    });
    expect(Object.keys(resultOutcome(read({}, { state: 1 }), granted)).sort()).toEqual([
      'granted',
      'state',
      'status',
    ]);
  });

  it('passes the stage’s own error through for a task that did not complete', () => {
    const error = {
      name: 'StageExecutionError',
      code: 'PHYS_STAGE_FAILED',
      message: 'diverged',
      retryable: false,
    };
    expect(resultOutcome(read({ status: 'FAILED', error }), granted)).toEqual({
      status: 'FAILED',
      error,
      granted,
    });
    expect(resultOutcome(read({ status: 'TIMEOUT' }), granted)).toEqual({
      status: 'TIMEOUT',
      granted,
    });
  });
});

import type { GrantedResources, TaskOutcome } from '@phys/core';
import { ExecutionStatus } from '@phys/core';
import type { ReadResult } from './envelope.js';

/**
 * The outcome a result envelope reports: its status, and the state, metrics, artifacts and
 * provenance of a completed task or the stage's own error (unchanged) of one that was not.
 * @public
 */
export function resultOutcome(result: ReadResult, granted: GrantedResources): TaskOutcome {
  const { envelope } = result;
  if (envelope.status !== 'COMPLETED') {
    return {
      status: ExecutionStatus[envelope.status],
      ...(envelope.error === undefined ? {} : { error: envelope.error }),
      granted,
    };
  }
  return {
    status: ExecutionStatus.COMPLETED,
    state: result.state,
    ...(envelope.metrics === undefined ? {} : { metrics: envelope.metrics }),
    ...(result.artifacts === undefined ? {} : { artifacts: result.artifacts }),
    ...(envelope.provenance === undefined ? {} : { provenance: envelope.provenance }),
    granted,
  };
}

// `planDag` lives in @phys/core beside the keys it explains (the CLI's `phys plan` uses it with
// whatever cache the config declares); re-exported here where it was first published.

export type {
  DagPlan,
  LineageRecord,
  LineageSource,
  PlanDagOptions,
  PlannedNode,
} from '@phys/core';
export { planDag } from '@phys/core';

// The DAG cache keys live in @phys/core, so that every Cache implementation and every executor
// derive the same key for the same work; re-exported here where they were first published.

export type {
  ComputeDagKeysOptions,
  DagKeyInputs,
  KeyChangeReason,
  NodeCacheKey,
} from '@phys/core';
export {
  codeFingerprint,
  computeDagKeys,
  DAG_KEY_FORMAT,
  dagCacheKey,
  explainKeyChange,
  formatKeyChange,
  KEY_INPUTS_FIELD,
} from '@phys/core';

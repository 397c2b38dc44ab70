import * as core from '@phys/core';
import { describe, expect, it } from 'vitest';
import * as cacheDisk from './index.js';

describe('@phys/cache-disk keys and plans', () => {
  it('are the functions of @phys/core, so every cache and executor derives the same keys', () => {
    expect(cacheDisk.computeDagKeys).toBe(core.computeDagKeys);
    expect(cacheDisk.dagCacheKey).toBe(core.dagCacheKey);
    expect(cacheDisk.codeFingerprint).toBe(core.codeFingerprint);
    expect(cacheDisk.planDag).toBe(core.planDag);
    expect(cacheDisk.KEY_INPUTS_FIELD).toBe(core.KEY_INPUTS_FIELD);
    expect(cacheDisk.DAG_KEY_FORMAT).toBe(core.DAG_KEY_FORMAT);
  });
});

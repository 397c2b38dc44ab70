// The plugin on its own. DagExecutor with the packager, and the plugin providing it to the
// executor plugin, are tested with @phys/executor-dag in
// tests/integration/test/ml-packager-executor-dag.test.ts.
import { describe, expect, it } from 'vitest';
import mlPackager from '../src/plugin.js';

describe('ml-packager plugin', () => {
  it('rejects invalid options with their paths', () => {
    expect(() => mlPackager({ root: '', bogus: 1 } as never)).toThrow(
      /plugins\.ml-packager\.root[\s\S]*plugins\.ml-packager\.bogus/,
    );
  });
});

// `phys graph` and `phys run` agree on which DAGs are valid: a DAG the executor rejects is
// rejected by `phys graph` too, with the same error and exit code, instead of being drawn.
import { runPhys } from '@phys/cli/testing';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';

const project = fixture('cli-dag-invalid');

describe('phys graph of a DAG that phys run rejects', () => {
  for (const pipeline of ['loop', 'dangling']) {
    it(`${pipeline}: the same error, JSON and exit code as phys run`, async () => {
      const run = await runPhys(['run', pipeline, '--progress', 'none'], { cwd: project });
      const graph = await runPhys(['graph', pipeline], { cwd: project });
      expect(run.code).toBe(1);
      expect(graph.code).toBe(run.code);
      expect(graph.stdout).toBe('');
      const error = graph.stderr.trim();
      expect(error).toMatch(/^error PHYS_DAG_INVALID: /);
      expect(run.stderr.trim()).toBe(error);

      const runJson = await runPhys(['run', pipeline, '--json'], { cwd: project });
      const graphJson = await runPhys(['graph', pipeline, '--json'], { cwd: project });
      expect(JSON.parse(graphJson.stdout)).toEqual(JSON.parse(runJson.stdout));
      expect(graphJson.code).toBe(1);
    });
  }

  it('names the cycle', async () => {
    const { stderr } = await runPhys(['graph', 'loop'], { cwd: project });
    expect(stderr).toMatch(/Cycle detected: (\w+) → \w+ → \w+ → \1\. /);
  });
});

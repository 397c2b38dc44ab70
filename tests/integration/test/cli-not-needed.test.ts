// `phys plan` and `phys run` with the executor-dag and cache-disk plugins when upstream entries
// are gone but what depends on them is cached: the upstream nodes are not needed, so they are
// planned as "not needed" and never run. Every call of a stage's process() is appended to a file.
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiskCache } from '@phys/cache-disk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

function configText(callsFile: string): string {
  return `
import { appendFileSync } from 'node:fs';
import { DagState, defineConfig, defineStage } from '@phys/core';
import { z } from 'zod';

const Step = defineStage({
  name: 'demo/step',
  version: '1',
  config: z.object({ add: z.number() }),
  process: (state: unknown, ctx) => {
    appendFileSync(${JSON.stringify(callsFile)}, ctx.nodeId + '\\n');
    let x = 0;
    if (DagState.is(state)) for (const v of state.inputs.values()) x += v as number;
    else x = state as number;
    return { state: x + ctx.config.add, metrics: { x } };
  },
});

export default defineConfig({
  logLevel: 'warn',
  plugins: ['executor-dag', ['cache-disk', { dir: 'cache' }]],
  pipelines: {
    // mesh ─┬─ solve ──┐
    //       └─ coarse ─┴─ report
    study: {
      kind: 'dag',
      nodes: [
        { id: 'mesh', stage: Step({ add: 1 }) },
        { id: 'solve', stage: Step({ add: 10 }), deps: ['mesh'] },
        { id: 'coarse', stage: Step({ add: 100 }), deps: ['mesh'] },
        { id: 'report', stage: Step({ add: 1000 }), deps: ['solve', 'coarse'] },
      ],
      initialState: 0,
    },
  },
});
`;
}

let project: string;
let callsFile: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-cli-not-needed-'));
  const modules = fileURLToPath(new URL('../node_modules', import.meta.url));
  await symlink(modules, join(project, 'node_modules'), 'dir');
  callsFile = join(project, 'calls.log');
  await writeFile(join(project, 'phys.config.ts'), configText(callsFile));
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const run = (argv: readonly string[]) => cli(argv, { cwd: project });
const json = async (argv: readonly string[]) => {
  const outcome = await run([...argv, '--json']);
  return { code: outcome.code, body: JSON.parse(outcome.stdout), stderr: outcome.stderr };
};
/** The nodes whose process() ran since the last call, in order. */
const takeCalls = async (): Promise<string[]> => {
  const text = await readFile(callsFile, 'utf8').catch(() => '');
  await writeFile(callsFile, '');
  return text.split('\n').filter((line) => line !== '');
};

describe('what nothing needs', () => {
  it('is planned as not needed and never run when every dependent is cached', async () => {
    const cold = await json(['run', 'study']);
    expect(cold.body.counts).toEqual({ COMPLETED: 4 });
    expect((await takeCalls()).sort()).toEqual(['coarse', 'mesh', 'report', 'solve']);

    // The entries of everything upstream of report are gone (evicted, deleted).
    const planned = await json(['plan', 'study']);
    const cache = new DiskCache({ dir: join(project, 'cache') });
    for (const node of planned.body.nodes as { id: string; key: string }[]) {
      if (node.id !== 'report') expect(await cache.delete(node.key)).toBe(true);
    }

    const human = await run(['plan', 'study']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('study: 1 cached, 0 to run, 3 not needed (4 nodes, cache disk)');
    expect(human.stdout).toMatch(/mesh\s+not needed\s+nothing that runs needs it/);
    expect(human.stdout).toMatch(/report\s+cached/);
    const plan = await json(['plan', 'study']);
    expect(plan.body).toMatchObject({ cached: 1, toRun: 0, notNeeded: 3 });
    expect(plan.body.nodes.find((n: { id: string }) => n.id === 'solve')).toMatchObject({
      cached: false,
      needed: false,
      why: 'not needed',
      reasons: [],
    });

    const warm = await json(['run', 'study']);
    expect(warm.code).toBe(0);
    expect(await takeCalls()).toEqual([]);
    expect(warm.body.status).toBe('COMPLETED');
    expect(warm.body.counts).toEqual({ CACHED: 1, SKIPPED: 3 });
    expect(warm.body.outputs).toEqual(cold.body.outputs);
    for (const id of ['mesh', 'solve', 'coarse']) {
      expect(warm.body.nodes[id]).toMatchObject({ status: 'SKIPPED', skipReason: 'not-needed' });
    }
    expect(warm.body.nodes.report).toMatchObject({ status: 'CACHED' });
  });

  it('runs again as soon as something needs it', async () => {
    // Now report's entry is gone as well: report runs, and needs all that is upstream.
    const plan = await json(['plan', 'study']);
    const report = (plan.body.nodes as { id: string; key: string }[]).find(
      (n) => n.id === 'report',
    );
    expect(await new DiskCache({ dir: join(project, 'cache') }).delete(report?.key ?? '')).toBe(
      true,
    );
    expect((await run(['plan', 'study'])).stdout).toContain(
      'study: 0 cached, 4 to run (4 nodes, cache disk)',
    );
    const ran = await json(['run', 'study']);
    expect(ran.body.counts).toEqual({ COMPLETED: 4 });
    expect((await takeCalls()).sort()).toEqual(['coarse', 'mesh', 'report', 'solve']);
    expect(ran.body.outputs).toEqual({ report: 1000 + (0 + 1 + 10) + (0 + 1 + 100) });
  });
});

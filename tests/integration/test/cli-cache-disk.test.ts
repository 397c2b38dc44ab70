// `phys plan` and `phys cache` with the executor-dag and cache-disk plugins, on a temporary
// project that declares them by name, as a user's phys.config.ts does; the plugins load from
// their built packages.
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

/** A config whose node `b` has config value `b`; `cache: false` leaves the cache out. */
function configText(b: number, cache = true): string {
  return `
import { DagState, defineConfig, defineStage } from '@phys/core';
import { z } from 'zod';

const Source = defineStage({
  name: 'demo/source',
  version: '1',
  config: z.object({ value: z.number() }),
  process: (_state: unknown, { config }) => ({ state: config.value, metrics: { value: config.value } }),
});

const Sum = defineStage({
  name: 'demo/sum',
  version: '1',
  config: z.object({}),
  process: (state: DagState) => {
    let total = 0;
    for (const v of state.inputs.values()) total += v as number;
    return { state: total, metrics: { total } };
  },
});

export default defineConfig({
  logLevel: 'warn',
  plugins: ['executor-dag'${cache ? ", ['cache-disk', { dir: 'cache' }]" : ''}],
  pipelines: {
    fan: {
      kind: 'dag',
      nodes: [
        { id: 'a', stage: Source({ value: 2 }) },
        { id: 'b', stage: Source({ value: ${b} }) },
        { id: 'sum', stage: Sum(), deps: ['a', 'b'] },
      ],
      initialState: null,
    },
    chain: { stages: [Source({ value: 1 }, { label: 'one' })], initialState: null },
  },
});
`;
}

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-cli-cache-'));
  // The project sees @phys/core, @phys/executor-dag, @phys/cache-disk and zod as installed.
  const modules = fileURLToPath(new URL('../node_modules', import.meta.url));
  await symlink(modules, join(project, 'node_modules'), 'dir');
  await writeFile(join(project, 'phys.config.ts'), configText(3));
  await writeFile(join(project, 'edited.config.ts'), configText(5));
  await writeFile(join(project, 'nocache.config.ts'), configText(3, false));
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

const run = (argv: readonly string[]) => cli(argv, { cwd: project });
const json = async (argv: readonly string[]) => {
  const outcome = await run([...argv, '--json']);
  return { code: outcome.code, body: JSON.parse(outcome.stdout), stderr: outcome.stderr };
};

interface PlannedJson {
  readonly id: string;
  readonly cached: boolean;
  readonly why: string;
}
const whyOf = (body: { nodes: PlannedJson[] }) =>
  Object.fromEntries(body.nodes.map((n) => [n.id, n.cached ? 'cached' : n.why]));

describe('phys plan', () => {
  it('predicts what phys run does, and says why nodes will run', async () => {
    const first = await json(['plan', 'fan']);
    expect(first.code).toBe(0);
    expect(first.body).toMatchObject({ pipeline: 'fan', cache: 'disk', cached: 0, toRun: 3 });
    expect(Object.values(whyOf(first.body)).every((w) => /^new key/.test(w as string))).toBe(true);
    // Planning wrote nothing.
    expect(await readdir(project)).not.toContain('cache');

    const cold = await json(['run', 'fan']);
    expect(cold.body.counts).toEqual({ COMPLETED: 3 });
    const warm = await json(['run', 'fan']);
    expect(warm.body.counts).toEqual({ CACHED: 3 });
    expect(warm.body.outputs).toEqual(cold.body.outputs);
    expect((await json(['plan', 'fan'])).body).toMatchObject({ cached: 3, toRun: 0 });

    const edited = await json(['plan', 'fan', '-c', 'edited.config.ts']);
    expect(whyOf(edited.body)).toEqual({
      a: 'cached',
      b: 'changed config',
      sum: 'changed upstream (b)',
    });
    const human = await run(['plan', 'fan', '-c', 'edited.config.ts']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('fan: 1 cached, 2 to run (3 nodes, cache disk)');
    expect(human.stdout).toMatch(/sum\s+will run\s+changed upstream \(b\)/);
    const ran = await json(['run', 'fan', '-c', 'edited.config.ts']);
    expect(ran.body.counts).toEqual({ CACHED: 1, COMPLETED: 2 });
    expect(ran.body.outputs).toEqual({ sum: 7 });

    // Reasons compare with the newest entry of each node: b's came from the edited config.
    const seeded = await json(['plan', 'fan', '--set', 'seed=1']);
    expect(whyOf(seeded.body)).toEqual({
      a: 'changed policy',
      b: 'changed config, changed policy',
      sum: 'changed policy, changed upstream (a, b)',
    });
  });

  it('--verify reads each entry: a damaged one plans as will-run, and the run recomputes it', async () => {
    expect((await json(['run', 'fan'])).body.status).toBe('COMPLETED');
    const ls = await json(['cache', 'ls']);
    const entry = (ls.body.entries as { key: string; nodeId: string }[]).find(
      (e) => e.nodeId === 'sum',
    );
    expect(entry).toBeDefined();
    const key = entry?.key as string;
    const path = join(project, 'cache', 'v1', key.slice(0, 2), key);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await writeFile(path, bytes);
    // Without --verify the plan only asks whether the entry exists.
    expect(whyOf((await json(['plan', 'fan'])).body).sum).toBe('cached');
    const verified = await json(['plan', 'fan', '--verify']);
    expect(whyOf(verified.body)).toEqual({
      a: 'cached',
      b: 'cached',
      sum: 'entry damaged (it failed verification and will be recomputed)',
    });
    expect(verified.body.toRun).toBe(1);
    const ran = await json(['run', 'fan']);
    expect(ran.body.nodes.sum.status).toBe('COMPLETED');
    expect((await json(['plan', 'fan', '--verify'])).body.toRun).toBe(0);
  });

  it('exits 78 with what to add when the config declares no cache', async () => {
    const { code, stderr } = await run(['plan', 'fan', '-c', 'nocache.config.ts']);
    expect(code).toBe(78);
    expect(stderr).toContain('error PHYS_CONFIG_INVALID: phys plan needs a result cache');
    expect(stderr).toContain("'cache-disk'");
  });

  it('exits 64 for a sequential pipeline or an unknown one', async () => {
    const sequential = await run(['plan', 'chain']);
    expect(sequential.code).toBe(64);
    expect(sequential.stderr).toContain("Pipeline 'chain' is sequential");
    expect((await run(['plan', 'nope'])).code).not.toBe(0);
  });
});

describe('phys cache', () => {
  it('stats, ls, verify, gc and clear the configured disk cache', async () => {
    await json(['run', 'fan']);
    const stats = await json(['cache', 'stats']);
    expect(stats.code).toBe(0);
    expect(stats.body).toMatchObject({ cache: 'disk', dir: join(project, 'cache') });
    expect(stats.body.entries).toBeGreaterThanOrEqual(3);
    const human = await run(['cache', 'stats']);
    expect(human.stdout).toContain(`cache disk at ${join(project, 'cache')}`);
    expect(human.stdout).toMatch(/entries\s+\d+/);

    const ls = await json(['cache', 'ls']);
    expect(ls.body.entries).toHaveLength(stats.body.entries);
    expect(ls.body.entries.map((e: { nodeId: string }) => e.nodeId)).toEqual(
      expect.arrayContaining(['a', 'b', 'sum']),
    );
    expect(ls.body.entries[0]).toMatchObject({ stage: expect.stringMatching(/^demo\//) });
    expect((await run(['cache', 'ls'])).stdout).toMatch(/demo\/sum@1\s+sum/);

    expect((await json(['cache', 'verify'])).body).toMatchObject({ corrupt: 0 });
    // Damage one entry: verify finds it, moves it aside and exits 1.
    const key = ls.body.entries[0].key as string;
    const path = join(project, 'cache', 'v1', key.slice(0, 2), key);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await writeFile(path, bytes);
    const verify = await json(['cache', 'verify']);
    expect(verify.code).toBe(1);
    expect(verify.body).toMatchObject({ corrupt: 1, ok: stats.body.entries - 1 });
    expect((await run(['cache', 'verify'])).code).toBe(0);

    expect((await json(['cache', 'gc'])).body).toMatchObject({
      evicted: 0,
      entries: stats.body.entries - 1,
    });

    const refused = await run(['cache', 'clear']);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain('run it again with --yes');
    expect((await json(['cache', 'stats'])).body.entries).toBe(stats.body.entries - 1);
    const cleared = await json(['cache', 'clear', '--yes']);
    expect(cleared.code).toBe(0);
    expect(cleared.body.removed.entries).toBe(stats.body.entries - 1);
    expect((await json(['cache', 'stats'])).body.entries).toBe(0);
    expect((await json(['run', 'fan'])).body.counts).toEqual({ COMPLETED: 3 });
  });

  it('exits 78 when the config declares no cache', async () => {
    const { code, body } = await json(['cache', 'stats', '-c', 'nocache.config.ts']);
    expect(code).toBe(78);
    expect(body.error.code).toBe('PHYS_CONFIG_INVALID');
  });
});

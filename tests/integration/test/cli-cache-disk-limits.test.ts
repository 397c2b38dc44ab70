// The disk cache under load and hostile input, through the `phys` binary: a wide fan-in of cached
// nodes under a small descriptor limit, a cache that fails for every node, and symbolic links
// planted inside the cache directory; and two runs of many nodes sharing a SharedDiskCache.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SharedDiskCache } from '@phys/cache-disk';
import { defineStage, type NodeSpec } from '@phys/core';
import { DagExecutor, LocalScheduler } from '@phys/executor-dag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

// `fan`: WIDTH independent sources summed by one node. WIDTH and SHARED come from the
// environment, so one project serves every test.
const CONFIG = `
import { DagState, defineConfig, defineStage } from '@phys/core';
import { z } from 'zod';

const Source = defineStage({
  name: 'limits/source',
  version: '1',
  config: z.object({ value: z.number() }),
  process: (_state: unknown, { config }) => ({ state: config.value }),
});

const Sum = defineStage({
  name: 'limits/sum',
  version: '1',
  config: z.object({}),
  process: (state: DagState) => {
    let total = 0;
    for (const v of state.inputs.values()) total += v as number;
    return { state: total };
  },
});

const width = Number(process.env.WIDTH ?? 3);
const sources = Array.from({ length: width }, (_, i) => ({ id: \`s\${i}\`, stage: Source({ value: i }) }));

export default defineConfig({
  logLevel: 'warn',
  plugins: ['executor-dag', ['cache-disk', { dir: 'cache', shared: process.env.SHARED === '1' }]],
  pipelines: {
    fan: {
      kind: 'dag',
      nodes: [...sources, { id: 'sum', stage: Sum(), deps: sources.map((s) => s.id) }],
      initialState: null,
    },
  },
});
`;

const require = createRequire(import.meta.url);
const cliManifest = require.resolve('@phys/cli/package.json');
const launcher = join(
  dirname(cliManifest),
  (require(cliManifest) as { bin: { phys: string } }).bin.phys,
);

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-cli-cache-limits-'));
  // The project sees @phys/core, the plugins and zod as installed.
  const modules = fileURLToPath(new URL('../node_modules', import.meta.url));
  await symlink(modules, join(project, 'node_modules'), 'dir');
  await writeFile(join(project, 'phys.config.ts'), CONFIG);
});

afterAll(async () => {
  await rm(project, { recursive: true, force: true });
});

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The `phys` binary with `argv`, with at most `fds` open descriptors when given (`ulimit -n`). */
function phys(
  argv: readonly string[],
  env: Record<string, string>,
  fds?: number,
): Promise<Outcome> {
  const command = [process.execPath, launcher, ...argv];
  const [file, args] =
    fds === undefined
      ? [command[0] as string, command.slice(1)]
      : ['bash', ['-c', `ulimit -n ${fds} && exec "$0" "$@"`, ...command]];
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...env };
  delete childEnv.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: project,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const warnings = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('warn'));

describe('a fully cached wide fan-in under a small descriptor limit', () => {
  // Before the cache bounded its descriptors, about 240 of 3,000 lookups hit under `ulimit -n
  // 256`; every other node recomputed, each with its own EMFILE warning.
  it.each([
    ['DiskCache', '0'],
    ['SharedDiskCache', '1'],
  ])('%s: every one of 3,001 nodes is restored under ulimit -n 256', async (_name, shared) => {
    const env = { WIDTH: '3000', SHARED: shared };
    await rm(join(project, 'cache'), { recursive: true, force: true });
    const cold = await phys(['run', 'fan', '--json'], env);
    expect(cold.code, cold.stderr).toBe(0);
    expect(JSON.parse(cold.stdout).counts).toEqual({ COMPLETED: 3001 });

    const warm = await phys(['run', 'fan', '--json'], env, 256);
    expect(warm.code, warm.stderr).toBe(0);
    const result = JSON.parse(warm.stdout);
    expect(result.counts).toEqual({ CACHED: 3001 });
    expect(result.outputs).toEqual({ sum: (2999 * 3000) / 2 });
    expect(warnings(warm.stderr).length, warm.stderr).toBeLessThanOrEqual(1);
  });
});

describe('a cache that fails for every node', () => {
  it('logs the first failure of each kind, then one line with the count of the others', async () => {
    await rm(join(project, 'cache'), { recursive: true, force: true });
    const outside = await mkdtemp(join(tmpdir(), 'phys-cli-cache-outside-'));
    try {
      await mkdir(join(project, 'cache'));
      await symlink(outside, join(project, 'cache', 'v1'));
      const run = await phys(['run', 'fan', '--json'], { WIDTH: '200' });
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout).counts).toEqual({ COMPLETED: 201 });
      // Nothing was written through the link.
      expect(await readdir(outside)).toEqual([]);
      const lines = warnings(run.stderr);
      expect(lines, run.stderr).toHaveLength(4);
      expect(lines.filter((l) => l.includes("cache lookup for node '"))).toHaveLength(1);
      expect(lines.filter((l) => l.includes("cannot cache the result of node '"))).toHaveLength(1);
      expect(lines).toContainEqual(
        expect.stringContaining(
          'cache lookup failed for 200 more nodes the same way (PHYS_CACHE_DISK_UNSAFE), so they ran too',
        ),
      );
      expect(lines).toContainEqual(
        expect.stringContaining('cannot cache the results of 200 more nodes either'),
      );
      for (const line of lines) expect(line).toContain('PHYS_CACHE_DISK_UNSAFE');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('phys cache verify', () => {
  it('lists symbolic links planted inside the cache and exits 1; clear deletes nothing through them', async () => {
    await rm(join(project, 'cache'), { recursive: true, force: true });
    const env = { WIDTH: '20' };
    expect((await phys(['run', 'fan'], env)).code).toBe(0);
    const outside = await mkdtemp(join(tmpdir(), 'phys-cli-cache-outside-'));
    try {
      // A victim's directory holding files named like entries, behind a planted shard link, and
      // a planted quarantine/ that points at it too.
      const shards = (await readdir(join(project, 'cache', 'v1'))).sort();
      const unused = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0')).find(
        (s) => !shards.includes(s),
      ) as string;
      const victim = `${unused}${'0'.repeat(62)}`;
      await writeFile(join(outside, victim), 'precious');
      const shardLink = join(project, 'cache', 'v1', unused);
      const quarantineLink = join(project, 'cache', 'quarantine');
      await symlink(outside, shardLink);
      await symlink(outside, quarantineLink);

      const human = await phys(['cache', 'verify'], env);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain('2 symbolic links inside the cache, never followed');
      expect(human.stdout).toContain(shardLink);
      expect(human.stdout).toContain(quarantineLink);
      const json = await phys(['cache', 'verify', '--json'], env);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({
        corrupt: 0,
        symlinks: [shardLink, quarantineLink].sort(),
      });

      const cleared = await phys(['cache', 'clear', '--yes', '--json'], env);
      expect(cleared.code).toBe(0);
      expect(JSON.parse(cleared.stdout).removed.entries).toBe(21);
      expect(await readdir(outside)).toEqual([victim]);
      expect(await readFile(join(outside, victim), 'utf8')).toBe('precious');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('two runs of many nodes on one SharedDiskCache', () => {
  // Every key a run waits for (another run holds its lock) used to add its own listener to the
  // run's AbortSignal: from the 11th on, Node printed MaxListenersExceededWarning.
  it('the run that waits prints no MaxListenersExceededWarning, and restores every node', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const Gated = defineStage({
      name: 'limits/gated',
      version: '1',
      config: z.object({ i: z.number() }),
      process: async (_state: unknown, { config }) => {
        await gate;
        return { state: config.i };
      },
    });
    const width = 60;
    const nodes: NodeSpec[] = Array.from({ length: width }, (_, i) => ({
      id: `g${i}`,
      stage: Gated({ i }),
    }));
    const dir = await mkdtemp(join(tmpdir(), 'phys-shared-listeners-'));
    const warned: string[] = [];
    const onWarning = (warning: Error) => warned.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const executors: DagExecutor[] = [];
    const executor = (cache: SharedDiskCache) => {
      const ex = new DagExecutor({
        scheduler: new LocalScheduler({ maxWorkers: 1 }),
        cache,
        metrics: [],
      });
      executors.push(ex);
      return ex;
    };
    try {
      // The first run takes the lock of every key, then waits at the gate.
      const first = executor(new SharedDiskCache({ dir })).run(null, nodes);
      const locks = async () => (await readdir(join(dir, 'locks')).catch(() => [])).length;
      while ((await locks()) < width) await new Promise((r) => setTimeout(r, 10));
      // The second run waits for all of them. A waiter checks for the entry (has) after each
      // pause, so once every key has been checked, all of them have paused at the same time.
      const checked = new Set<string>();
      class Watched extends SharedDiskCache {
        override has(key: string): Promise<boolean> {
          checked.add(key);
          return super.has(key);
        }
      }
      const second = executor(new Watched({ dir, pollMinMs: 1000, pollMaxMs: 1000 })).run(
        null,
        nodes,
      );
      while (checked.size < width) await new Promise((r) => setTimeout(r, 10));
      open();
      const [a, b] = await Promise.all([first, second]);
      expect(a.counts).toEqual({ COMPLETED: width });
      expect(b.counts).toEqual({ CACHED: width });
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
      for (const ex of executors) await ex.close();
      await rm(dir, { recursive: true, force: true });
    }
    expect(warned.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });
});

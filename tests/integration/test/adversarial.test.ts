// phys as an adversarial user meets it, through the real `phys` binary and the public APIs: a
// table of bad inputs, each of which must end in a clear coded error (its `PHYS_*` code, the
// documented exit code, a message that says what to do, no stack trace), and a table of faults,
// each of which must be handled cleanly (the run ends, says what happened, loses nothing).
import { spawnSync } from 'node:child_process';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DiskCache } from '@phys/cache-disk';
import { runPhys } from '@phys/cli/testing';
import { hashState, PhysError, resources } from '@phys/core';
import { DagExecutor } from '@phys/executor-dag';
import { loadPackage, ModelArtifactPackager } from '@phys/ml-packager';
import { loadConfig } from '@phys/runtime';
import { planSweep } from '@phys/sweep';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';
import { forgeArchive } from './helpers/forge-package.js';

const project = fixture('adversarial');
let scratch: string;
let cacheDir: string;

/** Bad configs, written next to each other in a scratch project; `STAGES` imports the fixture's stages. */
const configs: Readonly<Record<string, string>> = {
  'syntax.config.ts': `export default defineConfig({ stages, pipelines: { p: { kind: 'dag', nodes: [ }} });`,
  'throws.config.ts': `throw new Error('no license server');\nexport default {};`,
  'not-object.config.ts': 'export default 42;',
  'misspelled-key.config.ts': 'export default defineConfig({ stages, pipeline: {} } as never);',
  'plugin-name.config.ts': `export default defineConfig({ plugins: ['exector-dag'], stages });`,
  'plugin-option.config.ts': `export default defineConfig({ plugins: ['executor-dag', ['cache-disk', { maxByts: '1Gi' }]], stages } as never);`,
  'plugin-option-type.config.ts': `export default defineConfig({ plugins: ['executor-dag', ['cache-disk', { maxBytes: 'lots' }]], stages } as never);`,
  'log-level.config.ts': 'export default defineConfig({ logLevel: 5, stages } as never);',
  'cache-dir-type.config.ts': 'export default defineConfig({ cacheDir: 7, stages } as never);',
  'pipeline-type.config.ts': `export default defineConfig({ plugins: ['executor-dag'], stages, pipelines: { p: 'fan' } } as never);`,
  'empty-dag.config.ts': dag('[]'),
  'unknown-dep.config.ts': dag(`[{ id: 'a', stage: Source({ value: 1 }), deps: ['ghost'] }]`),
  'cycle.config.ts': dag(
    `[{ id: 'a', stage: Sum(), deps: ['b'] }, { id: 'b', stage: Sum(), deps: ['a'] }]`,
  ),
  'self-dep.config.ts': dag(`[{ id: 'a', stage: Sum(), deps: ['a'] }]`),
  'duplicate-ids.config.ts': dag(
    `[{ id: 'a', stage: Source({ value: 1 }) }, { id: 'a', stage: Source({ value: 2 }) }]`,
  ),
  'node-key.config.ts': dag(`[{ id: 'a', stage: Source({ value: 1 }), dep: ['b'] }]`),
  'stage-config.config.ts': dag(`[{ id: 'a', stage: Source({ value: 'many' } as never) }]`),
  'retry-attempts.config.ts': dag(
    `[{ id: 'a', stage: Source({ value: 1 }), retry: { maxAttempts: -2 } }]`,
  ),
  'retry-type.config.ts': dag(`[{ id: 'a', stage: Source({ value: 1 }), retry: 'forever' }]`),
  'cpu.config.ts': dag(
    `[{ id: 'a', stage: Source({ value: 1 }), resources: resources({ cpu: -1 }) }]`,
  ),
  'memory.config.ts': dag(
    `[{ id: 'a', stage: Source({ value: 1 }), resources: resources({ memory: '12 parsecs' }) }]`,
  ),
  'isolation.config.ts': dag(`[{ id: 'a', stage: Source({ value: 1 }), isolation: 'vm' }]`),
  'timeout.config.ts': dag(`[{ id: 'a', stage: Source({ value: 1 }), timeoutSeconds: -1 }]`),
  'no-executor.config.ts': `export default defineConfig({ stages, pipelines: { p: { kind: 'dag', nodes: [{ id: 'a', stage: Source({ value: 1 }) }] } } });`,
};

function dag(nodes: string): string {
  return `export default defineConfig({ plugins: ['executor-dag'], stages, pipelines: { p: { kind: 'dag', nodes: ${nodes} } } } as never);`;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'phys-adversarial-'));
  cacheDir = join(scratch, 'cache');
  const modules = fixture('../../node_modules');
  await symlink(modules, join(scratch, 'node_modules'), 'dir');
  await writeFile(join(scratch, 'package.json'), '{ "type": "module", "private": true }\n');
  const head = `import { defineConfig, resources } from '@phys/core';\nimport { Source, Sum, stages } from ${JSON.stringify(join(project, 'stages.js'))};\nvoid resources; void Source; void Sum;\n`;
  for (const [file, text] of Object.entries(configs)) {
    await writeFile(join(scratch, file), `${head}${text}\n`);
  }
  await writeFile(
    join(scratch, 'broken.config.json'),
    '{ "plugins": ["executor-dag"], "pipelines": ',
  );
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** `phys` in the fixture project, its cache in the scratch directory. */
function phys(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}) {
  return runPhys(argv, { cwd: project, env: { PHYS_ADV_CACHE_DIR: cacheDir, ...env } });
}

/** A stack frame: `    at fn (file:1:2)`; none is printed without --verbose. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

interface BadInput {
  readonly name: string;
  readonly argv: readonly string[];
  readonly code: string;
  readonly exit: number;
  /** What the message must say: the problem and what to do about it. */
  readonly says: RegExp;
}

const config = (file: string, ...rest: string[]) => ['run', 'p', '-c', join('..', file), ...rest];

// Config files are given relative to the fixture project (`-c ../file` does not exist there), so
// `bad(...)` rows pass an absolute path instead; see `argvOf`.
const badInputs: readonly BadInput[] = [
  // the command line
  {
    name: 'an unknown command',
    argv: ['frobnicate'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /unknown command 'frobnicate'\. Run 'phys --help' for usage\.$/m,
  },
  {
    name: 'an unknown flag',
    argv: ['run', 'fan', '--frobnicate'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /unknown option '--frobnicate'\. Run 'phys --help'/,
  },
  {
    name: 'a missing argument',
    argv: ['run'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /missing required argument 'pipeline'\. Run 'phys --help'/,
  },
  {
    name: 'a misspelled pipeline',
    argv: ['run', 'fann'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /Unknown pipeline 'fann'\. Did you mean 'fan'\? Pipelines in \S+: .*\bfan\b/,
  },
  {
    name: 'a flag value outside its choices',
    argv: ['run', 'fan', '--progress', 'loud'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /Allowed choices are auto, live, plain, none\. Run 'phys --help'/,
  },
  {
    name: '--set without =',
    argv: ['run', 'fan', '--set', 'foo'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /--set expects key=value, got 'foo'\. Examples: --set sampling\.N=1000/,
  },
  {
    name: 'a port that is not a number',
    argv: ['run', 'fan', '--metrics-port', 'abc'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /--metrics-port expects a port number from 0 to 65535/,
  },
  {
    name: 'a port out of range',
    argv: ['run', 'fan', '--metrics-port', '99999'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /expects a port number from 0 to 65535 .*got '99999'/,
  },
  {
    name: 'a graph format phys does not write',
    argv: ['graph', 'fan', '--format', 'svg'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /Allowed choices are mermaid, dot\. Run/,
  },
  {
    name: 'plan of a sequential pipeline',
    argv: ['plan', 'seq'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /phys plan works on DAG pipelines/,
  },
  {
    name: 'cache clear without --yes',
    argv: ['cache', 'clear'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /run it again with --yes to confirm/,
  },
  {
    name: 'exec of a missing envelope',
    argv: ['exec', '/nonexistent/task.json'],
    code: 'PHYS_USAGE',
    exit: 2,
    says: /Cannot read task envelope .*Pass the path of a task\.json/,
  },
  {
    name: 'exec of a file that is no envelope',
    argv: ['exec', 'stages.ts'],
    code: 'PHYS_USAGE',
    exit: 2,
    says: /is not valid JSON: .*Pass the path of a task\.json written by an executor/,
  },
  // config files that cannot be used
  {
    name: 'a config file that does not exist',
    argv: ['run', 'fan', '-c', 'missing.config.ts'],
    code: 'PHYS_CONFIG_NOT_FOUND',
    exit: 78,
    says: /does not exist\. Pass the path of a phys\.config\.\* file/,
  },
  {
    name: 'a config path that is a directory',
    argv: ['run', 'fan', '-c', '.'],
    code: 'PHYS_CONFIG_NOT_FOUND',
    exit: 78,
    says: /is a directory\. Pass the path of a phys\.config\.\* file/,
  },
  {
    name: 'a directory without a config',
    argv: ['run', 'fan', '-C', '/nonexistent/dir'],
    code: 'PHYS_CONFIG_NOT_FOUND',
    exit: 78,
    says: /Create phys\.config\.ts in your project root/,
  },
  {
    name: 'a config with a syntax error',
    argv: config('syntax.config.ts'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /syntax\.config\.ts:\d+:\d+[\s\S]*Fix that error in the config file/,
  },
  {
    name: 'a config that throws',
    argv: config('throws.config.ts'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /no license server\nFix that error in the config file/,
  },
  {
    name: 'broken JSON',
    argv: config('broken.config.json'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /Unexpected end of JSON input[\s\S]*Fix that error in the config file/,
  },
  {
    name: 'a config that is not an object',
    argv: config('not-object.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /is number 42, not an object\. Default-export `defineConfig/,
  },
  {
    name: 'a misspelled top-level key',
    argv: config('misspelled-key.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /pipeline: unknown key; did you mean 'pipelines'\?/,
  },
  {
    name: 'a misspelled plugin',
    argv: config('plugin-name.config.ts'),
    code: 'PHYS_PLUGIN_NOT_FOUND',
    exit: 78,
    says: /Did you mean 'executor-dag'\?/,
  },
  {
    name: 'a misspelled plugin option',
    argv: config('plugin-option.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /plugins\.cache-disk\.maxByts: unknown key/,
  },
  {
    name: 'a plugin option of the wrong kind',
    argv: config('plugin-option-type.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /maxBytes: use a positive size such as "512Mi"/,
  },
  {
    name: 'a number for the log level',
    argv: config('log-level.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /logLevel: Invalid option: expected one of "debug"\|"info"/,
  },
  {
    name: 'a number for the cache directory',
    argv: config('cache-dir-type.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /cacheDir: Invalid input: expected string, received number/,
  },
  {
    name: 'a pipeline that is a string',
    argv: config('pipeline-type.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /pipelines\.p: Invalid input: expected object/,
  },
  {
    name: 'a DAG without nodes',
    argv: config('empty-dag.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /pipelines\.p\.nodes: a DAG needs at least one node/,
  },
  {
    name: 'a misspelled node key',
    argv: config('node-key.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /nodes\[0\]\.dep: unknown key/,
  },
  {
    name: 'a stage config of the wrong type',
    argv: config('stage-config.config.ts'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /Invalid config for stage 'adv\/source'[\s\S]*value: Invalid input: expected number/,
  },
  {
    name: 'a negative retry count',
    argv: config('retry-attempts.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /retry\.maxAttempts: must be a whole number ≥ 1 .*got -2/,
  },
  {
    name: 'a retry policy that is a string',
    argv: config('retry-type.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /retry: must be an object such as \{ maxAttempts: 3 \}/,
  },
  {
    name: 'negative cpus',
    argv: config('cpu.config.ts'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /Invalid cpu -1: use a positive number of cores/,
  },
  {
    name: 'memory in parsecs',
    argv: config('memory.config.ts'),
    code: 'PHYS_CONFIG_LOAD_FAILED',
    exit: 78,
    says: /Invalid memory "12 parsecs": use a positive size such as "512Mi"/,
  },
  {
    name: 'an isolation that does not exist',
    argv: config('isolation.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /isolation: Invalid option: expected one of "inline"\|"thread"\|"process"/,
  },
  {
    name: 'a negative timeout',
    argv: config('timeout.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /timeoutSeconds: Too small: expected number to be >0/,
  },
  {
    name: 'a DAG without an executor',
    argv: config('no-executor.config.ts'),
    code: 'PHYS_CONFIG_INVALID',
    exit: 78,
    says: /Add one to plugins, e\.g\. plugins: \['executor-dag'\]/,
  },
  // DAGs that cannot run (documented: exit 1, as when a program builds the DAG)
  {
    name: 'a dependency on a missing node',
    argv: config('unknown-dep.config.ts'),
    code: 'PHYS_DAG_INVALID',
    exit: 1,
    says: /node 'a' depends on 'ghost', which is not a node of this DAG/,
  },
  {
    name: 'a cyclic DAG',
    argv: config('cycle.config.ts'),
    code: 'PHYS_DAG_INVALID',
    exit: 1,
    says: /Cycle detected: .*remove one of these dependencies/,
  },
  {
    name: 'a node that depends on itself',
    argv: config('self-dep.config.ts'),
    code: 'PHYS_DAG_INVALID',
    exit: 1,
    says: /Node 'a' depends on itself; remove 'a' from its deps/,
  },
  {
    name: 'duplicate node ids',
    argv: config('duplicate-ids.config.ts'),
    code: 'PHYS_DAG_INVALID',
    exit: 1,
    says: /Duplicate node id 'a' .*node ids must be unique/,
  },
  // sweeps
  {
    name: 'a sweep range with negative steps',
    argv: ['sweep', 'fan', '--set', 'a.value=1..2:-5'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /must be a whole number >= 1, got '-5'\. Write lo\.\.hi\[:steps\]/,
  },
  {
    name: 'a sweep of 1e8 points',
    argv: ['sweep', 'fan', '--set', 'a.value=1..100000000:100000000'],
    code: 'PHYS_SWEEP_TOO_LARGE',
    exit: 78,
    says: /100,000,000 points .*nothing was expanded.*sweep fewer values/,
  },
  {
    name: 'a sweep of an unknown pipeline',
    argv: ['sweep', 'nope', '--set', 'a.value=1,2'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /Unknown pipeline 'nope'\. Pipelines in /,
  },
  {
    name: 'a sweep of an unknown node',
    argv: ['sweep', 'fan', '--set', 'zz.value=1,2'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /write node\.param with one of the node ids: a, b, sum/,
  },
  {
    name: 'a sweep of an unknown parameter',
    argv: ['sweep', 'fan', '--set', 'a.nope=1,2'],
    code: 'PHYS_SWEEP_INVALID',
    exit: 78,
    says: /has no key 'nope' \(it has: value\)/,
  },
  {
    name: 'sweep values of the wrong type',
    argv: ['sweep', 'fan', '--set', 'a.value=x,y'],
    code: 'PHYS_SWEEP_INVALID',
    exit: 78,
    says: /a\[value=x\]\.value: Invalid input: expected number/,
  },
  {
    name: 'a random sweep without values',
    argv: ['sweep', 'fan', '--mode', 'random'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /needs at least one --set node\.param=v1,v2/,
  },
  {
    name: 'a negative sample count',
    argv: ['sweep', 'fan', '--set', 'a.value=1,2', '--mode', 'random', '-n', '-3'],
    code: 'PHYS_USAGE',
    exit: 64,
    says: /--samples N \(a whole number >= 1\), got '-3'/,
  },
];

function argvOf(row: BadInput): string[] {
  // `config(...)` rows name files of the scratch project.
  return row.argv.map((arg, i) =>
    row.argv[i - 1] === '-c' && arg.startsWith('../') ? join(scratch, arg.slice(3)) : arg,
  );
}

describe('bad inputs to the phys binary end in a clear coded error', () => {
  it.each(badInputs.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const { code, stdout, stderr } = await phys(argvOf(row));
    const error = stderr.slice(Math.max(0, stderr.indexOf(`error ${row.code}: `)));
    expect(stderr, stdout).toMatch(new RegExp(`^error ${row.code}: \\S`, 'm'));
    expect(code).toBe(row.exit);
    expect(error).toMatch(row.says);
    expect(stderr).not.toMatch(STACK_FRAME);
  });
});

/** Rejects with a PhysError whose code is `code`. */
async function rejectsWith(promise: Promise<unknown> | (() => unknown), code: string) {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(PhysError.is(error), String(error)).toBe(true);
  expect((error as PhysError).code).toBe(code);
  return error as PhysError;
}

describe('bad inputs to the public APIs end in a coded error', () => {
  it('loadConfig of a config with a misspelled key', async () => {
    const error = await rejectsWith(
      loadConfig({ configFile: join(scratch, 'misspelled-key.config.ts') }),
      'PHYS_CONFIG_INVALID',
    );
    expect(error.message).toContain("did you mean 'pipelines'?");
  });

  it('resources() of memory it cannot parse', async () => {
    const error = await rejectsWith(() => resources({ memory: 'lots' }), 'PHYS_RESOURCES_INVALID');
    expect(error.message).toMatch(/use a positive size such as "512Mi"/);
  });

  it('planSweep of 1e8 points, refused before anything is expanded', async () => {
    const { Source } = await import('./fixtures/adversarial/stages.js');
    const error = await rejectsWith(
      () =>
        planSweep([{ id: 'a', stage: Source({ value: 1 }) }], {
          node: 'a',
          params: { value: { min: 1, max: 1e8, steps: 1e8 } },
        }),
      'PHYS_SWEEP_TOO_LARGE',
    );
    expect(error.message).toContain('100,000,000 points');
  });

  it('DagExecutor.run of a cyclic DAG', async () => {
    const { Sum } = await import('./fixtures/adversarial/stages.js');
    const error = await rejectsWith(
      new DagExecutor({ metrics: [] }).run(null, [
        { id: 'a', stage: Sum(), deps: ['b'] },
        { id: 'b', stage: Sum(), deps: ['a'] },
      ]),
      'PHYS_DAG_INVALID',
    );
    expect(error.message).toMatch(/Cycle detected: .*remove one of these dependencies/);
  });

  it('loadPackage of a forged manifest that lists ../../, extracting nothing', async () => {
    const root = join(scratch, 'models');
    const pkg = await new ModelArtifactPackager({ root }).package('fit', {
      state: { w: [1, 2] },
      metrics: { loss: 0.5 },
      artifacts: { 'weights.bin': new Uint8Array([1, 2, 3]) },
    });
    const forged = await forgeArchive(
      pkg,
      '../../escape/x',
      'planted',
      join(scratch, `forged-${pkg.version}.tar.gz`),
    );
    const into = join(scratch, 'loaded');
    await rejectsWith(loadPackage(forged, { extractTo: into }), 'PHYS_PACKAGE_UNSAFE_PATH');
    await expect(lstat(join(scratch, 'escape'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readdir(into).catch(() => [])).resolves.toEqual([]);
  });

  it('DiskCache.put through a symbolic link planted inside the cache, writing nothing there', async () => {
    const dir = join(scratch, 'linked-cache');
    const outside = join(scratch, 'outside');
    const cache = new DiskCache({ dir });
    const key = hashState(['adversarial', 'symlink']);
    await cache.put(key, { state: 1, metrics: {}, provenance: {} });
    const entry = (await readdir(join(dir, 'v1'), { recursive: true })).find((p) =>
      p.includes('/'),
    ) as string;
    const shard = join(dir, 'v1', dirname(entry));
    await rename(shard, outside);
    await symlink(outside, shard);
    await cache.close();
    const again = new DiskCache({ dir });
    const other = `${key.slice(0, 2)}${'0'.repeat(key.length - 2)}`;
    await rejectsWith(
      again.put(other, { state: 2, metrics: {}, provenance: {} }),
      'PHYS_CACHE_DISK_UNSAFE',
    );
    expect(await readdir(outside)).toHaveLength(1);
  });
});

describe('faults are handled cleanly', () => {
  it('a stage that throws: its node fails with its message, the run exits 1', async () => {
    const { code, stdout, stderr } = await phys(['run', 'throws', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✗ throws: FAILED/m);
    expect(stderr).toContain(
      "bad FAILED: PHYS_STAGE_FAILED Stage 'adv/throw' (node 'bad') failed: the mesh is degenerate",
    );
    expect(stderr).not.toMatch(STACK_FRAME);
  });

  it('process.exit in an inline stage: the run fails naming the node, exit 1', async () => {
    const { code, stdout, stderr } = await phys(['run', 'exits-inline', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error PHYS_STAGE_EXIT: Node 'quitter' called process\.exit\(7\)/m);
    expect(stdout).toMatch(/^✗ exits-inline: FAILED/m);
  });

  it('process.exit in a thread stage: only that node fails', async () => {
    const { code, stderr } = await phys(['run', 'exits-thread', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /quitter FAILED: PHYS_STAGE_FAILED The worker thread running node 'quitter' crashed/,
    );
  });

  it('a heap overflow in a process node: three lines, no native stack', async () => {
    const { code, stderr } = await phys(['run', 'heap', '--progress', 'none'], {
      NODE_OPTIONS: '--max-old-space-size=64',
    });
    expect(code).toBe(1);
    expect(stderr).toContain(
      "hog FAILED: PHYS_STAGE_FAILED The process running node 'hog' ran out of JavaScript heap memory",
    );
    expect(stderr).toContain('Give it a larger heap');
    expect(stderr).not.toMatch(/^\s*\d+: 0x[0-9a-f]+/m);
  });

  it('a process node killed from outside (SIGKILL): the signal is named', async () => {
    const { code, stderr } = await phys(['run', 'killed', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stderr).toContain("The process running node 'victim' was killed by signal SIGKILL.");
    expect(stderr).toMatch(/Logs and the task envelope are in \S+victim\.1/);
  });

  it('a process node that segfaults: the signal is named', async () => {
    const { code, stderr } = await phys(['run', 'segfault', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stderr).toContain("The process running node 'victim' was killed by signal SIGSEGV.");
  });

  it('a node past its timeout: PHYS_TIMEOUT, exit 1', async () => {
    const { code, stderr } = await phys(['run', 'slow', '--progress', 'none']);
    expect(code).toBe(1);
    expect(stderr).toContain("w TIMEOUT: PHYS_TIMEOUT Node 'w' exceeded its timeout of 0.5 s");
  });

  it('a 300-character node id in a process node: runs (file names from a hash)', async () => {
    const { code, stdout, stderr } = await phys(['run', 'long-id', '--progress', 'none']);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^✓ long-id: COMPLETED/m);
    expect(stderr).not.toContain('ENAMETOOLONG');
  });

  it('SIGTERM mid-run: the run is cancelled, its partial result printed, exit 130', async () => {
    const stop = new AbortController();
    const { code, stdout, stderr } = await runPhys(['run', 'wait', '--progress', 'plain'], {
      cwd: project,
      env: { PHYS_ADV_CACHE_DIR: cacheDir },
      signal: stop.signal,
      killSignal: 'SIGTERM',
      onStderr: (chunk) => {
        if (chunk.includes('RUNNING   w')) stop.abort();
      },
    });
    expect(code).toBe(130);
    expect(stderr).toContain('SIGTERM: cancelling the run');
    expect(stdout).toMatch(/^✗ wait: CANCELLED/m);
  });

  it('corrupt cache entries: they are misses, the nodes run again, exit 0', async () => {
    const dir = join(scratch, 'corrupt-cache');
    expect((await phys(['run', 'fan'], { PHYS_ADV_CACHE_DIR: dir })).code).toBe(0);
    const files = (await readdir(join(dir, 'cache', 'v1'), { recursive: true })).filter((p) =>
      p.includes('/'),
    );
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) await writeFile(join(dir, 'cache', 'v1', file), 'garbage');
    const { code, stdout } = await phys(['run', 'fan', '--progress', 'none'], {
      PHYS_ADV_CACHE_DIR: dir,
    });
    expect(code).toBe(0);
    expect(stdout).toContain('nodes: 3 completed');
    expect(stdout).toMatch(/sum\.\S*\s+5|a\.value\s+2/);
  });

  it('phys cache verify of corrupt entries: quarantined, exit 1', async () => {
    const dir = join(scratch, 'verify-cache');
    await phys(['run', 'fan'], { PHYS_ADV_CACHE_DIR: dir });
    const files = (await readdir(join(dir, 'cache', 'v1'), { recursive: true })).filter((p) =>
      p.includes('/'),
    );
    await writeFile(join(dir, 'cache', 'v1', files[0] as string), 'garbage');
    const { code, stdout } = await phys(['cache', 'verify'], { PHYS_ADV_CACHE_DIR: dir });
    expect(code).toBe(1);
    expect(stdout).toMatch(/1 corrupt \(moved to quarantine\/, they are misses now\)/);
  });

  it('a symbolic link planted in the cache: never written through, listed by verify', async () => {
    const dir = join(scratch, 'symlink-cache');
    await phys(['run', 'fan'], { PHYS_ADV_CACHE_DIR: dir });
    const v1 = join(dir, 'cache', 'v1');
    const shards = await readdir(v1);
    const outside = join(scratch, 'planted-shard');
    await rename(join(v1, shards[0] as string), outside);
    await symlink(outside, join(v1, shards[0] as string));
    const before = await readdir(outside);
    await phys(['cache', 'clear', '--yes'], { PHYS_ADV_CACHE_DIR: dir });
    expect(await readdir(outside)).toEqual(before);
    const { stdout } = await phys(['cache', 'verify'], { PHYS_ADV_CACHE_DIR: dir });
    expect(stdout).toContain('1 symbolic link inside the cache, never followed');
    expect(stdout).toContain(join(v1, shards[0] as string));
  });

  it('a cache directory that cannot exist (under a regular file): warns once, the run goes on', async () => {
    const file = join(scratch, 'a-file');
    await writeFile(file, 'not a directory');
    const { code, stdout, stderr } = await phys(['run', 'fan', '--progress', 'none'], {
      PHYS_ADV_CACHE_DIR: join(file, 'cache'),
    });
    expect(code).toBe(0);
    expect(stdout).toContain('nodes: 3 completed');
    expect(stderr).toMatch(/cannot cache the result of node '\w+' \(the run goes on\)/);
    expect(stderr.match(/^warn /gm)?.length).toBeLessThanOrEqual(2);
  });

  it.runIf(process.platform === 'linux')(
    'a cache directory where mkdir fails oddly (/proc): the run ends, warning, exit 0',
    async () => {
      const { code, stdout, stderr } = await phys(['run', 'fan', '--progress', 'none'], {
        PHYS_ADV_CACHE_DIR: `/proc/phys-adversarial-${process.pid}`,
      });
      expect(code).toBe(0);
      expect(stdout).toContain('nodes: 3 completed');
      expect(stderr).toContain('code=PHYS_CACHE_DISK_IO');
    },
  );

  const canMount =
    process.platform === 'linux' &&
    spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'true']).status === 0;

  it.runIf(canMount)(
    'a full cache file system: the entries that fit are kept, the run goes on, exit 0',
    async () => {
      const mount = await mkdtemp(join(scratch, 'full-'));
      // A 64 KiB tmpfs filled to the last byte, in a mount namespace of its own.
      const script = `mount -t tmpfs -o size=64k tmpfs "$1" && head -c 10000000 /dev/zero > "$1/filler" 2>/dev/null; shift; exec "$@"`;
      const launcher = fixture('../../node_modules/@phys/cli/bin/phys.js');
      const run = spawnSync(
        'unshare',
        [
          '--user',
          '--map-root-user',
          '--mount',
          'sh',
          '-c',
          script,
          'sh',
          mount,
          process.execPath,
          launcher,
          'run',
          'fan',
          '--progress',
          'none',
        ],
        {
          cwd: project,
          encoding: 'utf8',
          env: { ...process.env, NO_COLOR: '1', PHYS_ADV_CACHE_DIR: join(mount, 'cache') },
          timeout: 120_000,
        },
      );
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('nodes: 3 completed');
      expect(run.stderr).toContain('ENOSPC');
    },
  );

  it('a missing cache directory: phys cache stats says it is empty, exit 0', async () => {
    const dir = join(scratch, 'never-created');
    const { code, stdout } = await phys(['cache', 'stats'], { PHYS_ADV_CACHE_DIR: dir });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\s+entries\s+0$/m);
    await expect(readFile(join(dir, 'cache', 'v1'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a run directory of nodes that all succeeded is removed', async () => {
    const work = join(scratch, 'work-root');
    await mkdir(work, { recursive: true });
    const { code } = await phys(['run', 'long-id', '--progress', 'none'], { TMPDIR: work });
    expect(code).toBe(0);
    const root = join(work, `phys-${process.getuid?.() ?? ''}`);
    expect(await readdir(root).catch(() => [])).toEqual([]);
  });
});

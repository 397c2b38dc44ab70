// Where process isolation and command stages write, and what a dead task process's error says.
// The default work root is per user and private: a shared login node has one /tmp for everyone.
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeSpec } from '@phys/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';
import { Add, Crash, Fail, ShellCommand } from './fixtures/stages.js';
import { configFile } from './helpers.js';

const posix = process.getuid !== undefined;
let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'phys-work-dir-test-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe.runIf(posix)('the default work root', () => {
  // A temporary directory of the test's own stands for the machine's shared /tmp.
  let tmp: string;
  let root: string;
  const saved = process.env.TMPDIR;
  beforeEach(async () => {
    tmp = await mkdtemp(join(base, 'tmp-'));
    process.env.TMPDIR = tmp;
    root = join(tmp, `phys-${process.getuid?.()}`);
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });

  async function run(nodes: NodeSpec[], runId: string) {
    const scheduler = new LocalScheduler({ maxWorkers: 2, configFile });
    try {
      return await new DagExecutor({ scheduler, metrics: [], failureMode: 'continue' }).run(
        { payload: 0 },
        nodes,
        { runId },
      );
    } finally {
      await scheduler.close();
    }
  }

  it('is <tmp>/phys-<uid>, created with mode 0700; a finished run leaves no directory in it', async () => {
    const result = await run(
      [
        { id: 'a', stage: Add({ amount: 1 }), isolation: 'process' },
        { id: 'b', stage: Add({ amount: 2 }), deps: ['a'], isolation: 'process' },
      ],
      'tidy-run',
    );
    expect(result.status).toBe('COMPLETED');
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    // Before, <tmp>/phys-work/tidy-run stayed behind, empty, after every run.
    expect(await readdir(root)).toEqual([]);
  });

  it("keeps a failed node's directory, and with it its run's", async () => {
    const result = await run(
      [
        { id: 'ok', stage: Add({}), isolation: 'process' },
        { id: 'bad', stage: Fail({}), isolation: 'process' },
      ],
      'failed-run',
    );
    expect(result.nodes.bad?.status).toBe('FAILED');
    expect(await readdir(root)).toEqual(['failed-run']);
    expect(await readdir(join(root, 'failed-run'))).toEqual(['bad.1']);
  });

  it('is refused when it is a symbolic link, and nothing is written through it', async () => {
    const elsewhere = join(tmp, 'elsewhere');
    await mkdir(elsewhere);
    await symlink(elsewhere, root);
    const result = await run(
      [
        { id: 'proc', stage: Add({}), isolation: 'process' },
        { id: 'cmd', stage: ShellCommand({ script: 'echo hello > out.txt' }) },
      ],
      'planted-run',
    );
    for (const id of ['proc', 'cmd']) {
      expect(result.nodes[id]?.status).toBe('FAILED');
      expect(result.nodes[id]?.error?.code).toBe('PHYS_WORKDIR_UNSAFE');
      expect(result.nodes[id]?.error?.message).toContain(`${root} is not safe to use`);
      expect(result.nodes[id]?.error?.message).toContain('symbolic link');
    }
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('is made private again when it is ours but others can read it', async () => {
    await mkdir(root, { mode: 0o755 });
    const result = await run([{ id: 'a', stage: Add({}), isolation: 'process' }], 'open-run');
    expect(result.status).toBe('COMPLETED');
    expect((await stat(root)).mode & 0o777).toBe(0o700);
  });
});

describe('process isolation', () => {
  let scheduler: LocalScheduler;
  let workDir: string;
  beforeAll(async () => {
    workDir = await mkdtemp(join(base, 'explicit-'));
    scheduler = new LocalScheduler({ maxWorkers: 2, configFile, workDir });
  });
  afterAll(async () => {
    await scheduler.close();
  });

  it('runs nodes and runs with ids too long for a file name', async () => {
    // Before: ENAMETOOLONG from mkdir, the node FAILED.
    const long = `node/${'x'.repeat(300)}`;
    const result = await new DagExecutor({ scheduler, metrics: [] }).run(
      { payload: 1 },
      [
        { id: long, stage: Add({ amount: 2 }), isolation: 'process' },
        { id: `${long}!`, stage: Add({ amount: 3 }), deps: [long], isolation: 'process' },
      ],
      { runId: `run-${'r'.repeat(300)}` },
    );
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs[`${long}!`]).toEqual({ payload: 6 });
  });

  it('reports an exhausted heap in a few lines; the native stack trace is kept for --verbose', async () => {
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${saved ?? ''} --max-old-space-size=24`.trim();
    let result: Awaited<ReturnType<DagExecutor['run']>>;
    try {
      result = await new DagExecutor({ scheduler, metrics: [] }).run({ payload: 0 }, [
        { id: 'hog', stage: Crash({ mode: 'oom' }), isolation: 'process' },
      ]);
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
    const error = result.nodes.hog?.error;
    expect(result.nodes.hog?.status).toBe('FAILED');
    expect(error?.message).toMatch(
      /^The process running node 'hog' ran out of JavaScript heap memory \(it was killed by signal SIGABRT\)\. Give it a larger heap/,
    );
    expect(error?.message).toContain('FATAL ERROR: Reached heap limit');
    // Before: sixteen lines of ` 1: 0xb78db3 node::OOMErrorHandler(...)` in the message.
    expect(error?.message).not.toMatch(/^\s*\d+: 0x[0-9a-f]+/m);
    expect(error?.message.split('\n').length).toBeLessThanOrEqual(4);
    expect(error?.cause).toMatchObject({ name: 'V8FatalError' });
    expect(error?.cause?.stack).toMatch(/^\s+at 0x[0-9a-f]+ /m);
  }, 60_000);
});

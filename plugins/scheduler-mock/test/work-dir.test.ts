// The default work directory of a MockHpcScheduler built without `workDir`: under the user's
// private root in the temporary directory, which every user of the machine shares.
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionStatus, PhysError, resources, type SchedulerTask } from '@phys/core';
import { ConformanceEcho, conformanceConfigFile, taskCommand } from '@phys/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MockHpcScheduler } from '../src/index.js';

let tmp: string;
let savedTmpdir: string | undefined;
const open: MockHpcScheduler[] = [];

beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'phys-mock-workdir-'));
  savedTmpdir = process.env.TMPDIR;
  // os.tmpdir() reads TMPDIR: the test's own directory plays the machine's shared /tmp.
  process.env.TMPDIR = tmp;
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  await rm(tmp, { recursive: true, force: true });
});

function cluster(): MockHpcScheduler {
  const scheduler = new MockHpcScheduler({
    configFile: conformanceConfigFile(),
    taskCommand: taskCommand(),
    cpusPerHost: 1,
    queueLatencySeconds: 0,
  });
  open.push(scheduler);
  return scheduler;
}

function echo(nodeId: string): SchedulerTask {
  return {
    runId: 'workdir',
    nodeId,
    attempt: 1,
    stage: ConformanceEcho({ tag: nodeId }).ref,
    resources: resources(),
    input: { values: new Float64Array([1]) },
    policy: {},
  };
}

async function rejection(promise: Promise<unknown>): Promise<PhysError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!PhysError.is(error)) throw new Error(`expected a PhysError, got ${String(error)}`);
  return error;
}

const root = (): string => join(tmp, `phys-${process.getuid?.()}`);

describe.runIf(process.getuid !== undefined)('MockHpcScheduler default work directory', () => {
  it('is <tmp>/phys-<uid>/mock-hpc, created private to the user', async () => {
    const scheduler = cluster();
    expect(scheduler.workDir).toBe(join(root(), 'mock-hpc'));
    const handle = await scheduler.submit(echo('a'));
    expect((await scheduler.wait(handle)).status).toBe(ExecutionStatus.COMPLETED);
    expect((await stat(root())).mode & 0o777).toBe(0o700);
    expect((await stat(scheduler.workDir)).mode & 0o777).toBe(0o700);
  });

  it('refuses a symbolic link planted at the private root, writing nothing through it', async () => {
    const planted = join(tmp, 'someone-elses');
    await mkdir(planted);
    await symlink(planted, root());
    const error = await rejection(cluster().submit(echo('a')));
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toContain('it is a symbolic link');
    expect(error.message).toContain('set `workDir` to a directory of your own');
    expect(await readdir(planted)).toEqual([]);
    expect((await lstat(root())).isSymbolicLink()).toBe(true);
  });

  it('refuses a symbolic link at mock-hpc inside the root', async () => {
    const planted = join(tmp, 'elsewhere');
    await mkdir(planted);
    await mkdir(root(), { mode: 0o700 });
    await symlink(planted, join(root(), 'mock-hpc'));
    const error = await rejection(cluster().submit(echo('a')));
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(await readdir(planted)).toEqual([]);
  });

  // Only root can give a directory to another user.
  it.runIf(process.getuid?.() === 0)("refuses a root that is another user's", async () => {
    await mkdir(root(), { mode: 0o700 });
    await chown(root(), 4242, 4242);
    const error = await rejection(cluster().submit(echo('a')));
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toContain('it belongs to another user (uid 4242');
    expect(await readdir(root())).toEqual([]);
  });

  it('writes into a workDir the user chose without checking it', async () => {
    const chosen = join(tmp, 'shared-project');
    await mkdir(chosen);
    await chmod(chosen, 0o777);
    const scheduler = new MockHpcScheduler({
      configFile: conformanceConfigFile(),
      taskCommand: taskCommand(),
      workDir: chosen,
      cpusPerHost: 1,
      queueLatencySeconds: 0,
    });
    open.push(scheduler);
    const handle = await scheduler.submit(echo('a'));
    expect((await scheduler.wait(handle)).status).toBe(ExecutionStatus.COMPLETED);
  });
});

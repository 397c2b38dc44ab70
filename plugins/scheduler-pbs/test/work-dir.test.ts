// The default work directory of a PbsScheduler built without `workDir`: `.phys/pbs` beside the
// config (as Slurm's), where compute nodes see it, created private to the user.
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExecutionStatus, PhysError, resources, type SchedulerTask } from '@phys/core';
import { ConformanceEcho, conformanceConfigFile, taskCommand } from '@phys/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PbsScheduler } from '../src/index.js';
import { type FakePbs, installFakePbs } from './fake-pbs.js';

let fake: FakePbs;
let project: string;
let configFile: string;
const open: PbsScheduler[] = [];

beforeAll(async () => {
  fake = await installFakePbs({ killDelayMs: 500 });
});
afterAll(async () => {
  await fake.shutdown();
});
beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'phys-pbs-workdir-'));
  configFile = join(project, 'phys.config.js');
  const stages = pathToFileURL(conformanceConfigFile()).href;
  await writeFile(configFile, `export { default } from ${JSON.stringify(stages)};\n`);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await rm(project, { recursive: true, force: true });
});

function pbs(workDir?: string): PbsScheduler {
  const scheduler = new PbsScheduler({
    configFile,
    taskCommand: taskCommand(),
    ...(workDir === undefined ? {} : { workDir }),
    pollInterval: { initialSeconds: 0.05, maxSeconds: 0.2 },
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

describe.runIf(process.getuid !== undefined)('PbsScheduler default work directory', () => {
  it('is .phys/pbs beside the config, created private to the user', async () => {
    const scheduler = pbs();
    expect(scheduler.workDir).toBe(join(project, '.phys', 'pbs'));
    const handle = await scheduler.submit(echo('a'));
    expect((await scheduler.wait(handle)).status).toBe(ExecutionStatus.COMPLETED);
    expect((await stat(scheduler.workDir)).mode & 0o777).toBe(0o700);
  });

  it('refuses a symbolic link at .phys/pbs, submitting nothing and writing nothing through it', async () => {
    const planted = await mkdtemp(join(tmpdir(), 'phys-pbs-planted-'));
    try {
      await mkdir(join(project, '.phys'));
      await symlink(planted, join(project, '.phys', 'pbs'));
      const before = (await fake.calls()).filter((c) => c.cmd === 'qsub').length;
      const error = await rejection(pbs().submit(echo('a')));
      expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
      expect(error.message).toContain('it is a symbolic link');
      expect(error.message).toContain('set `workDir` to a directory of your own');
      expect(await readdir(planted)).toEqual([]);
      expect((await fake.calls()).filter((c) => c.cmd === 'qsub')).toHaveLength(before);
      expect((await lstat(join(project, '.phys', 'pbs'))).isSymbolicLink()).toBe(true);
    } finally {
      await rm(planted, { recursive: true, force: true });
    }
  });

  it('refuses a .phys/pbs that other users can write to', async () => {
    await mkdir(join(project, '.phys', 'pbs'), { recursive: true });
    await chmod(join(project, '.phys', 'pbs'), 0o777);
    const error = await rejection(pbs().submit(echo('a')));
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toContain('other users can write to it (mode 777)');
  });

  // Only root can give a directory to another user.
  it.runIf(process.getuid?.() === 0)("refuses a .phys/pbs that is another user's", async () => {
    await mkdir(join(project, '.phys', 'pbs'), { recursive: true, mode: 0o700 });
    await chown(join(project, '.phys', 'pbs'), 4242, 4242);
    const error = await rejection(pbs().submit(echo('a')));
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toContain('it belongs to another user (uid 4242');
    expect(await readdir(join(project, '.phys', 'pbs'))).toEqual([]);
  });

  it('uses a workDir the user chose as it is', async () => {
    const chosen = join(project, 'group-scratch');
    await mkdir(chosen);
    await chmod(chosen, 0o777);
    const scheduler = pbs(chosen);
    const handle = await scheduler.submit(echo('a'));
    expect((await scheduler.wait(handle)).status).toBe(ExecutionStatus.COMPLETED);
  });
});

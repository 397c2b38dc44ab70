import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, SchedulerToken } from '@phys/core';
import { createRuntime } from '@phys/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import schedulerSlurm, { SlurmScheduler } from './index.js';

describe('scheduler-slurm plugin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phys-slurm-plugin-'));
  const configFile = join(dir, 'phys.config.ts');
  writeFileSync(configFile, 'export default {};\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects unknown and invalid options, naming every path', () => {
    let error: unknown;
    try {
      schedulerSlurm({ partiton: 'gpu', maxArraySize: 0, partition: 'a b' } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(
      [
        'plugins.scheduler-slurm.maxArraySize',
        'plugins.scheduler-slurm.partiton',
        'plugins.scheduler-slurm.partition',
      ].sort(),
    );
  });

  it('provides a SlurmScheduler that loads the config and writes under <cacheDir>/slurm', async () => {
    const runtime = await createRuntime(
      {
        config: { plugins: [schedulerSlurm({ partition: 'debug', setup: ['module load gcc'] })] },
        configDir: dir,
        filepath: configFile,
      },
      { init: true },
    );
    try {
      expect(runtime.plugins[0]?.provides).toEqual(['scheduler']);
      const scheduler = runtime.resolve(SchedulerToken);
      expect(scheduler).toBeInstanceOf(SlurmScheduler);
      const slurm = scheduler as SlurmScheduler;
      expect(slurm.configFile).toBe(configFile);
      expect(slurm.workDir).toBe(join(dir, '.phys', 'slurm'));
      expect(slurm.options).toMatchObject({ partition: 'debug', setup: ['module load gcc'] });
      expect(runtime.resolve(SchedulerToken)).toBe(scheduler);
    } finally {
      await runtime.dispose();
    }
  });

  it('resolves a relative workDir from the config directory', () => {
    const scheduler = new SlurmScheduler({ configFile, workDir: 'scratch/jobs' });
    expect(scheduler.workDir).toBe(join(dir, 'scratch', 'jobs'));
    expect(new SlurmScheduler({ configFile }).workDir).toBe(join(dir, '.phys', 'slurm'));
  });

  it('needs an absolute config file', () => {
    expect(() => new SlurmScheduler({ configFile: 'phys.config.ts' })).toThrow(/absolute path/);
  });
});

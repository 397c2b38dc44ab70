import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  JobHandle,
  PhysPlugin,
  Scheduler,
  SchedulerCapabilities,
  SchedulerTask,
  TaskOutcome,
} from '@phys/core';
import {
  ConfigError,
  ExecutionStatus,
  type Logger,
  type PhysError,
  resources,
  SchedulerError,
  SchedulerToken,
  silentLogger,
} from '@phys/core';
import { createRuntime } from '@phys/runtime';
import {
  deferred,
  defineSchedulerPlugin,
  JobTable,
  type SchedulerPluginSetup,
  type TrackedJob,
} from '@phys/scheduler-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const echoOptionsSchema = z.object({
  configFile: z.string().optional(),
  workDir: z.string().optional(),
  scale: z.number().default(1),
});

interface EchoJob extends TrackedJob {
  readonly input: unknown;
}

/** Completes every task at once with its input: the plugin helper's subject, not a cluster. */
class EchoScheduler implements Scheduler {
  readonly name = 'echo';
  readonly capabilities: SchedulerCapabilities = Object.freeze({
    arrays: false,
    dependencies: false,
    gpus: false,
    cancel: true,
  });
  closed = false;
  readonly #jobs = new JobTable<EchoJob>({ scheduler: 'EchoScheduler' });
  #seq = 0;

  constructor(
    readonly scale: number,
    readonly setup: SchedulerPluginSetup,
  ) {}

  async submit(task: SchedulerTask): Promise<JobHandle> {
    const handle = { jobId: `echo-${++this.#seq}`, nodeId: task.nodeId, attempt: task.attempt };
    const { promise, resolve } = deferred<TaskOutcome>();
    const job: EchoJob = {
      input: task.input,
      status: ExecutionStatus.QUEUED,
      outcome: promise,
      resolve,
    };
    this.#jobs.add(handle, job);
    this.#jobs.settle(job, { status: ExecutionStatus.COMPLETED, state: task.input });
    return handle;
  }

  poll(handle: JobHandle): Promise<ExecutionStatus> {
    return this.#jobs.status(handle);
  }

  wait(handle: JobHandle): Promise<TaskOutcome> {
    return this.#jobs.outcome(handle);
  }

  async cancel(handle: JobHandle): Promise<void> {
    this.#jobs.settle(this.#jobs.get(handle), { status: ExecutionStatus.CANCELLED });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

type EchoPlugin = PhysPlugin<z.output<typeof echoOptionsSchema>>;

function echoPlugin(
  options?: z.input<typeof echoOptionsSchema>,
  created: EchoScheduler[] = [],
  noConfigFileCode?: string,
): EchoPlugin {
  return defineSchedulerPlugin({
    name: 'scheduler-echo',
    version: '1.2.3',
    optionsSchema: echoOptionsSchema,
    options,
    workDirName: 'echo',
    ...(noConfigFileCode === undefined ? {} : { noConfigFileCode }),
    create: (_ctx, parsed, setup) => {
      const scheduler = new EchoScheduler(parsed.scale, setup);
      created.push(scheduler);
      return scheduler;
    },
  });
}

describe('defineSchedulerPlugin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phys-scheduler-plugin-'));
  const configFile = join(dir, 'phys.config.ts');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const runtimeOf = (plugin: EchoPlugin, filepath?: string, logger: Logger = silentLogger) =>
    createRuntime(
      {
        config: { plugins: [plugin] },
        configDir: dir,
        ...(filepath === undefined ? {} : { filepath }),
      },
      { logger },
    );

  it('validates the options in the factory, naming every bad path', () => {
    let error: unknown;
    try {
      echoPlugin({ scale: 'big', sacle: 2 } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      'plugins.scheduler-echo.sacle',
      'plugins.scheduler-echo.scale',
    ]);
  });

  it('provides the scheduler capability with the parsed options', () => {
    const plugin = echoPlugin();
    expect(plugin).toMatchObject({
      name: 'scheduler-echo',
      version: '1.2.3',
      provides: ['scheduler'],
      options: { scale: 1 },
    });
  });

  it('creates the scheduler on first resolve only, with the config file, work directory and logger', async () => {
    const created: EchoScheduler[] = [];
    const logger: Logger = { ...silentLogger, child: () => silentLogger };
    const runtime = await runtimeOf(echoPlugin({ scale: 3 }, created), configFile, logger);
    try {
      expect(created).toHaveLength(0);
      const scheduler = runtime.resolve(SchedulerToken);
      expect(runtime.resolve(SchedulerToken)).toBe(scheduler);
      expect(created).toEqual([scheduler]);
      const echo = scheduler as EchoScheduler;
      expect(echo.scale).toBe(3);
      expect(echo.setup).toEqual({
        configFile,
        workDir: join(dir, '.phys', 'echo'),
        logger,
        // the host's command that executes a task envelope: node and the runtime's task entry
        taskCommand: [process.execPath, expect.stringMatching(/exec\.js$/)],
      });
      const handle = await echo.submit({
        runId: 'r',
        nodeId: 'n',
        stage: { name: 'test/echo', version: '1', config: {} },
        resources: resources(),
        attempt: 1,
        input: { x: 1 },
        policy: {},
      });
      await expect(echo.wait(handle)).resolves.toMatchObject({ state: { x: 1 } });
      await expect(echo.poll({ ...handle, jobId: 'echo-99' })).rejects.toBeInstanceOf(
        SchedulerError,
      );
    } finally {
      await runtime.dispose();
    }
    expect(created[0]?.closed).toBe(true);
  });

  it('resolves relative configFile and workDir options from the config directory', async () => {
    const created: EchoScheduler[] = [];
    const plugin = echoPlugin({ configFile: 'conf/phys.config.ts', workDir: 'scratch' }, created);
    const runtime = await runtimeOf(plugin);
    try {
      runtime.resolve(SchedulerToken);
      expect(created[0]?.setup).toMatchObject({
        configFile: join(dir, 'conf', 'phys.config.ts'),
        workDir: join(dir, 'scratch'),
      });
    } finally {
      await runtime.dispose();
    }
  });

  it('fails to create the scheduler, with the plugin’s code, when no config file is known', async () => {
    for (const [code, expected] of [
      [undefined, 'PHYS_SCHEDULER_NO_CONFIG'],
      ['PHYS_SCHEDULER_ECHO_NO_CONFIG', 'PHYS_SCHEDULER_ECHO_NO_CONFIG'],
    ] as const) {
      const runtime = await runtimeOf(echoPlugin({}, [], code));
      try {
        let error: unknown;
        try {
          runtime.resolve(SchedulerToken);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(SchedulerError);
        expect((error as PhysError).code).toBe(expected);
        expect((error as PhysError).message).toMatch(/scheduler-echo plugin needs a config file/);
        expect((error as PhysError).message).toMatch(/`configFile` option/);
      } finally {
        await runtime.dispose();
      }
    }
  });

  it('disposes cleanly when the scheduler was never created', async () => {
    const created: EchoScheduler[] = [];
    const runtime = await runtimeOf(echoPlugin({}, created), configFile);
    await runtime.dispose();
    expect(created).toHaveLength(0);
  });
});

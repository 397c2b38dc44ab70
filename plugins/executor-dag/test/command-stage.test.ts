// Command stages run real programs: sh, node and (when a C compiler is installed) a tiny C program.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resources } from '@phys/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CommandResult, defineCommandStage } from '../src/command-stage.js';
import { DagExecutor } from '../src/dag-executor.js';
import { LocalScheduler } from '../src/local-scheduler.js';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'phys-cmd-test-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function executor(scheduler = new LocalScheduler({ maxWorkers: 2 })) {
  return new DagExecutor({ scheduler, metrics: [], failureMode: 'continue' });
}

const Shell = defineCommandStage({
  name: 'test/shell',
  config: z.object({ script: z.string(), outputs: z.array(z.string()).default([]) }),
  command: (config) => ({ program: 'sh', args: ['-c', config.script] }),
  outputs: (config) => config.outputs,
  get workRoot() {
    return root;
  },
});

describe('defineCommandStage', () => {
  it('runs a program with arguments templated from the config, in its own work directory', async () => {
    const Echo = defineCommandStage({
      name: 'test/echo',
      config: z.object({ greeting: z.string(), times: z.number().int() }),
      command: {
        program: 'node',
        args: [
          '-e',
          'require("fs").writeFileSync("out.txt", process.argv.slice(1).join(" "))',
          '{greeting}',
          '{times}',
        ],
      },
      outputs: ['out.txt'],
      workRoot: root,
      result: async (run) => ({
        text: await readFile(run.outputs['out.txt'] as string, 'utf8'),
        dir: run.workDir,
      }),
    });
    const result = await executor().run(
      {},
      [{ id: 'echo', stage: Echo({ greeting: 'hello', times: 3 }) }],
      { runId: 'cmd-run' },
    );
    expect(result.status).toBe('COMPLETED');
    const out = result.outputs.echo as { text: string; dir: string };
    expect(out.text).toBe('hello 3');
    expect(out.dir).toBe(join(root, 'commands', 'cmd-run', 'echo.1'));
    const artifact = result.artifacts['echo.out.txt'] as {
      path: string;
      sha256: string;
      bytes: number;
    };
    expect(artifact).toMatchObject({ path: join(out.dir, 'out.txt'), bytes: 7 });
    expect(artifact.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(result.metrics['echo.commandSeconds']).toBeGreaterThan(0);
  });

  it('streams stdout and stderr to log files and returns the command result as state', async () => {
    const result = await executor().run({}, [
      { id: 'logs', stage: Shell({ script: 'echo to-out; echo to-err >&2' }) },
    ]);
    const run = result.outputs.logs as CommandResult;
    expect(await readFile(run.stdout, 'utf8')).toBe('to-out\n');
    expect(await readFile(run.stderr, 'utf8')).toBe('to-err\n');
    expect(run.command).toEqual(['sh', '-c', 'echo to-out; echo to-err >&2']);
  });

  it('fails the node on a non-zero exit with the exit code and the last lines of stderr', async () => {
    const script = 'for i in $(seq 1 30); do echo "line $i" >&2; done; exit 3';
    const result = await executor().run({}, [{ id: 'bad', stage: Shell({ script }) }]);
    const error = result.nodes.bad?.error;
    expect(result.nodes.bad?.status).toBe('FAILED');
    expect(error?.code).toBe('PHYS_STAGE_FAILED');
    expect(error?.message).toMatch(/exited with code 3/);
    expect(error?.message).toMatch(/line 30$/m);
    expect(error?.message).not.toMatch(/line 10$/m);
    expect(error?.details).toMatchObject({ exitCode: 3, signal: null });
    expect(String(error?.details?.stderrTail).split('\n')).toHaveLength(20);
  });

  it('names the signal of a program that segfaults', async () => {
    const result = await executor().run({}, [
      { id: 'segv', stage: Shell({ script: 'kill -SEGV $$' }) },
    ]);
    expect(result.nodes.segv?.status).toBe('FAILED');
    expect(result.nodes.segv?.error?.message).toMatch(/killed by signal SIGSEGV/);
    expect(result.nodes.segv?.error?.details).toMatchObject({ signal: 'SIGSEGV', exitCode: null });
  });

  it('names the signal of a compiled C program that dereferences NULL', async (ctx) => {
    const cc = ['cc', 'gcc', 'clang'].find((c) => {
      try {
        execFileSync(c, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (cc === undefined) ctx.skip();
    const source = join(root, 'segv.c');
    const binary = join(root, 'segv');
    await writeFile(source, 'int main(void) { volatile int *p = 0; return *p; }\n');
    execFileSync(cc as string, ['-O0', '-o', binary, source]);
    expect(existsSync(binary)).toBe(true);
    const Native = defineCommandStage({
      name: 'test/native',
      config: z.object({ binary: z.string() }),
      command: { program: '{binary}' },
      workRoot: root,
    });
    const result = await executor().run({}, [
      { id: 'native', stage: Native({ binary }) },
      { id: 'independent', stage: Shell({ script: 'true' }) },
    ]);
    expect(result.nodes.native?.status).toBe('FAILED');
    expect(result.nodes.native?.error?.message).toMatch(/killed by signal SIGSEGV/);
    expect(result.nodes.independent?.status).toBe('COMPLETED');
  });

  it('fails when a declared output file is missing', async () => {
    const result = await executor().run({}, [
      { id: 'lazy', stage: Shell({ script: 'true', outputs: ['result.h5'] }) },
    ]);
    expect(result.nodes.lazy?.error?.message).toMatch(
      /did not produce the declared output 'result.h5'/,
    );
  });

  it('launches mpi ranks through the configured launcher', async () => {
    const Mpi = defineCommandStage({
      name: 'test/mpi',
      config: z.object({}),
      command: { program: 'sh', args: ['-c', 'echo "$RANKS" > ranks.txt'] },
      outputs: ['ranks.txt'],
      launcher: ['env', 'RANKS={ranks}'],
      workRoot: root,
      result: async (run) => (await readFile(run.outputs['ranks.txt'] as string, 'utf8')).trim(),
    });
    const result = await executor(new LocalScheduler({ maxWorkers: 2, maxCpu: 4 })).run({}, [
      { id: 'mpi', stage: Mpi({}), resources: resources({ cpu: 1, mpiRanks: 3 }) },
    ]);
    expect(result.outputs.mpi).toBe('3');
    expect(result.provenance.stages[0]?.command).toEqual([
      'env',
      'RANKS=3',
      'sh',
      '-c',
      'echo "$RANKS" > ranks.txt',
    ]);
  });

  it('uses mpirun -n N by default and reports a launcher that cannot be started', async () => {
    const result = await executor(new LocalScheduler({ maxWorkers: 1, maxCpu: 2 })).run({}, [
      { id: 'mpi', stage: Shell({ script: 'true' }), resources: resources({ mpiRanks: 2 }) },
    ]);
    const error = result.nodes.mpi?.error;
    if (error === undefined) {
      // an MPI installation is present: the launcher ran the command
      expect(result.nodes.mpi?.status).toBe('COMPLETED');
    } else {
      expect(error.details?.command).toEqual(['mpirun', '-n', '2', 'sh', '-c', 'true']);
      expect(error.message).toMatch(/could not be started|exited with code/);
    }
  });

  it('exports the granted gpus as CUDA_VISIBLE_DEVICES', async () => {
    const result = await executor(new LocalScheduler({ maxWorkers: 2, gpuIds: [7, 9] })).run({}, [
      {
        id: 'gpu',
        stage: Shell({
          script: 'printf "%s" "$CUDA_VISIBLE_DEVICES" > cuda.txt',
          outputs: ['cuda.txt'],
        }),
        resources: resources({ gpu: 2 }),
      },
    ]);
    const run = result.outputs.gpu as CommandResult;
    expect(await readFile(run.outputs['cuda.txt'] as string, 'utf8')).toBe('7,9');
  });

  it('kills the program when the node times out', async () => {
    const result = await executor().run({}, [
      { id: 'sleepy', stage: Shell({ script: 'sleep 30' }), timeoutSeconds: 0.2 },
    ]);
    expect(result.nodes.sleepy?.status).toBe('TIMEOUT');
  });

  it.each(['thread', 'process'] as const)(
    'ends a segfaulting command as FAILED under %s isolation',
    async (isolation) => {
      const { configFile } = await import('./helpers.js');
      const { ShellCommand } = await import('./fixtures/stages.js');
      const local = new LocalScheduler({ maxWorkers: 2, configFile });
      try {
        const result = await executor(local).run({}, [
          { id: 'segv', stage: ShellCommand({ script: 'kill -SEGV $$' }), isolation },
          { id: 'fine', stage: ShellCommand({ script: 'exit 0' }), isolation },
        ]);
        expect(result.nodes.segv?.status).toBe('FAILED');
        expect(result.nodes.segv?.error?.message).toMatch(/killed by signal SIGSEGV/);
        expect(result.nodes.fine?.status).toBe('COMPLETED');
      } finally {
        await local.close();
      }
    },
  );
});

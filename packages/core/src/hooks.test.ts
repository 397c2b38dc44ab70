import { describe, expect, it } from 'vitest';
import { HookRunner, type PipelineHook } from './hooks.js';
import type { Logger } from './logger.js';

function memoryLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: (m) => void lines.push(`debug ${m}`),
    info: (m) => void lines.push(`info ${m}`),
    warn: (m, f) => void lines.push(`warn ${m} ${JSON.stringify(f)}`),
    error: (m) => void lines.push(`error ${m}`),
    child: () => logger,
  };
  return logger;
}

const start = { pipeline: 'demo', runId: 'r1', context: {} };

describe('HookRunner', () => {
  it('calls hooks in registration order, skipping those without the method', () => {
    const calls: string[] = [];
    const hooks: PipelineHook[] = [
      { name: 'a', onPipelineStart: (e) => void calls.push(`a:${e.pipeline}`) },
      { name: 'b', onPipelineEnd: () => void calls.push('b:end') },
      { name: 'c', onPipelineStart: () => void calls.push('c') },
    ];
    const runner = new HookRunner(hooks, memoryLogger([]));
    runner.emit('onPipelineStart', start);
    expect(calls).toEqual(['a:demo', 'c']);
    expect(runner.empty).toBe(false);
    expect(new HookRunner([], memoryLogger([])).empty).toBe(true);
  });

  it('calls a hook method with the hook as `this`', () => {
    const hook = {
      seen: [] as string[],
      onPipelineStart(this: { seen: string[] }, e: { runId: string }) {
        this.seen.push(e.runId);
      },
    };
    new HookRunner([hook], memoryLogger([])).emit('onPipelineStart', start);
    expect(hook.seen).toEqual(['r1']);
  });

  it('records and logs a hook that throws, names unnamed hooks by position, and keeps going', async () => {
    const lines: string[] = [];
    const calls: string[] = [];
    const runner = new HookRunner(
      [
        {
          onPipelineStart: () => {
            throw new Error('sync');
          },
        },
        {
          name: 'async',
          onPipelineStart: () => Promise.reject('async'),
        },
        { name: 'ok', onPipelineStart: () => void calls.push('ok') },
      ],
      memoryLogger(lines),
    );
    runner.emit('onPipelineStart', start);
    expect(calls).toEqual(['ok']);
    await runner.flush();
    expect(runner.failures.map((f) => [f.hook, f.event, f.error.message])).toEqual([
      ['hook#0', 'onPipelineStart', 'sync'],
      ['async', 'onPipelineStart', 'async'],
    ]);
    expect(runner.failures[1]?.error).toBeInstanceOf(Error);
    expect(lines[0]).toBe(
      `warn hook 'hook#0' failed in onPipelineStart: sync {"hook":"hook#0","event":"onPipelineStart"}`,
    );
  });

  it('flush waits for the async hooks started so far', async () => {
    const done: string[] = [];
    const runner = new HookRunner(
      [
        {
          name: 'slow',
          onPipelineEnd: async () => {
            await new Promise((resolve) => setImmediate(resolve));
            done.push('slow');
          },
        },
      ],
      memoryLogger([]),
    );
    const end = {
      pipeline: 'demo',
      runId: 'r1',
      status: 'COMPLETED',
      durationSeconds: 0,
      error: undefined,
    } as const;
    runner.emit('onPipelineEnd', end);
    expect(done).toEqual([]);
    await runner.flush();
    expect(done).toEqual(['slow']);
  });
});

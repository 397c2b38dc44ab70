// runPhys, the helper that @phys/cli/testing exports, against the BUILT binary.
import { describe, expect, it } from 'vitest';
import { runPhys } from '../src/testing.js';
import { fixture } from './helpers.js';

describe('runPhys', () => {
  it('runs the binary and collects what it printed, exit 0', async () => {
    const result = await runPhys(['--help'], { cwd: fixture('seq') });
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(result.stdout).toContain('Usage: phys [options] [command]');
  });

  it('resolves with a non-zero exit code and the message on stderr', async () => {
    const { code, signal, stdout, stderr } = await runPhys(['frobnicate'], {
      cwd: fixture('seq'),
    });
    expect(code).toBe(64);
    expect(signal).toBeNull();
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error PHYS_USAGE: unknown command 'frobnicate'/m);
  });

  it('sets NO_COLOR=1 and the given variables over the environment; undefined removes one', async () => {
    const policy = async (env: Record<string, string | undefined>) => {
      const { code, stdout } = await runPhys(['config', '--json'], { cwd: fixture('env'), env });
      expect(code).toBe(0);
      return JSON.parse(stdout).policy;
    };
    expect(await policy({ PHYS_FIXTURE_GREETING: 'hello' })).toEqual({
      noColor: '1',
      greeting: 'hello',
    });
    expect(await policy({ NO_COLOR: undefined })).toEqual({ noColor: 'unset', greeting: 'unset' });
  });

  it('sends killSignal when the signal aborts, and reports the signal that ended the process', async () => {
    const controller = new AbortController();
    let seen = '';
    const { code, signal } = await runPhys(['run', 'hang-seq', '--progress', 'plain'], {
      cwd: fixture('dag'),
      signal: controller.signal,
      killSignal: 'SIGKILL',
      onStderr: (chunk) => {
        seen += chunk;
        if (/RUNNING\s+wait/.test(seen)) controller.abort();
      },
    });
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('rejects with PHYS_USAGE when the process cannot start', async () => {
    const cwd = `${fixture('seq')}-missing`;
    await expect(runPhys(['--help'], { cwd })).rejects.toMatchObject({
      name: 'UsageError',
      code: 'PHYS_USAGE',
      message: expect.stringContaining(`Could not start \`phys\` in ${cwd}`),
    });
  });

  it('rejects with PHYS_CANCELLED, starting nothing, when the signal is already aborted', async () => {
    await expect(
      runPhys(['--help'], { cwd: fixture('seq'), signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'CancelledError', code: 'PHYS_CANCELLED' });
  });
});

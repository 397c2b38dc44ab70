import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { killProcessGroup } from './process-group.js';

const started: ChildProcess[] = [];
const grandchildren: number[] = [];

afterEach(() => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
  for (const pid of grandchildren.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Whether `pid` runs: a zombie (dead, not yet reaped by whoever adopted it) does not. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && alive(pid); i++) await delay(25);
  return !alive(pid);
}

/** A shell that started a `sleep` of its own, and that sleep's pid. */
async function shellWithChild(
  detached: boolean,
): Promise<{ child: ChildProcess; sleeper: number }> {
  const child = spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], {
    detached,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  started.push(child);
  const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const sleeper = Number(line.toString().trim());
  grandchildren.push(sleeper);
  return { child, sleeper };
}

describe.runIf(process.platform !== 'win32')('killProcessGroup', () => {
  it('signals the whole group a process leads: what it started stops with it', async () => {
    const { child, sleeper } = await shellWithChild(true);
    const exit = once(child, 'exit');
    expect(killProcessGroup(child.pid as number, 'SIGTERM')).toBe(true);
    expect(await exit).toEqual([null, 'SIGTERM']);
    expect(await gone(sleeper)).toBe(true);
  });

  it('takes a ChildProcess as well', async () => {
    const { child, sleeper } = await shellWithChild(true);
    const exit = once(child, 'exit');
    expect(killProcessGroup(child)).toBe(true);
    expect(await exit).toEqual([null, 'SIGKILL']);
    expect(await gone(sleeper)).toBe(true);
  });

  it('signals the process alone when it leads no group', async () => {
    const { child, sleeper } = await shellWithChild(false);
    const exit = once(child, 'exit');
    expect(killProcessGroup(child.pid as number, 'SIGKILL')).toBe(true);
    expect(await exit).toEqual([null, 'SIGKILL']);
    // Its child was in our group, not one of its own: it runs on (afterEach stops it).
    expect(alive(sleeper)).toBe(true);
  });

  it('is not an error for a process that is gone', async () => {
    const child = spawn(process.execPath, ['-e', ''], { detached: true, stdio: 'ignore' });
    await once(child, 'exit');
    expect(killProcessGroup(child, 'SIGTERM')).toBe(false);
    expect(killProcessGroup(child.pid as number, 'SIGTERM')).toBe(false);
    expect(killProcessGroup({ kill: () => false })).toBe(false);
  });
});

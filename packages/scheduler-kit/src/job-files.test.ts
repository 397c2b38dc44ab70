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
import { PhysError } from '@phys/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePrivateDir, logTail, privateDirProblem, safeFileName } from './job-files.js';

describe('safeFileName', () => {
  it('keeps ids that are already safe file names', () => {
    for (const id of ['run-2024.07_a', 'fit', 'scale-10', 'a.b.c']) {
      expect(safeFileName(id)).toBe(id);
    }
  });

  it('turns other ids into safe names that stay apart', () => {
    const ids = ['a b', 'a/b', 'a_b', 'a\\b', '..', '.', 'x%y', 'ünïcode', '', 'a'.repeat(81)];
    const names = ids.map(safeFileName);
    for (const name of names) {
      expect(name).toMatch(/^[A-Za-z0-9._-]{1,80}$/);
      expect(['.', '..']).not.toContain(name);
    }
    expect(new Set(names).size).toBe(ids.length);
    expect(safeFileName('a b')).toMatch(/^a_b-[0-9a-f]{8}$/);
    expect(safeFileName('a b')).toBe(safeFileName('a b'));
  });
});

describe('logTail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-log-tail-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the last lines, without the trailing newline', async () => {
    const file = join(dir, 'short.log');
    await writeFile(file, `${Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n')}\n\n`);
    expect(await logTail(file, { lines: 3 })).toBe('line 27\nline 28\nline 29');
    expect((await logTail(file)).split('\n')).toHaveLength(20);
    expect(await logTail(file, { lines: 3, maxChars: 10 })).toBe('28\nline 29');
  });

  it('is empty for a missing or empty log', async () => {
    expect(await logTail(join(dir, 'missing.log'))).toBe('');
    await writeFile(join(dir, 'empty.log'), '');
    expect(await logTail(join(dir, 'empty.log'))).toBe('');
  });

  it('reads only the end of a large log and never starts mid-line', async () => {
    const file = join(dir, 'large.log');
    const lines = Array.from({ length: 20_000 }, (_, i) => `entry ${i} ${'x'.repeat(i % 50)}`);
    const text = `${lines.join('\n')}\n`;
    // The 64 KiB window must start mid-line for this test to mean anything.
    expect(text[text.length - 64 * 1024 - 1]).not.toBe('\n');
    await writeFile(file, text);
    const tail = (await logTail(file, { lines: 100_000, maxChars: 1_000_000 })).split('\n');
    expect(tail.length).toBeLessThan(lines.length);
    expect(tail.at(-1)).toBe(lines.at(-1));
    expect(lines).toContain(tail[0]);
  });
});

describe.runIf(process.getuid !== undefined)('ensurePrivateDir', () => {
  const uid = process.getuid?.() as number;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-private-dir-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function refusal(path: string): Promise<PhysError> {
    const error = await ensurePrivateDir(path, { elsewhere: 'set `workDir`' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!PhysError.is(error)) throw new Error(`expected a PhysError, got ${String(error)}`);
    return error;
  }

  it('creates the directory, and its missing parent, with mode 0700', async () => {
    const path = join(dir, 'parent', 'phys-me');
    await ensurePrivateDir(path);
    expect((await stat(path)).mode & 0o777).toBe(0o700);
    // Again: the one that is there is fine.
    await ensurePrivateDir(path);
  });

  it('refuses a symbolic link, even to a directory of ours, and writes nothing through it', async () => {
    const target = join(dir, 'target');
    await mkdir(target, { mode: 0o700 });
    const link = join(dir, 'link');
    await symlink(target, link);
    const error = await refusal(link);
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toBe(
      `The work directory ${link} is not safe to use: it is a symbolic link. Another user could read the task envelopes and logs written there, or redirect them. If it is yours, remove it and phys creates it again, private to you; or set \`workDir\`.`,
    );
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses a file, and a directory others can write to', async () => {
    const file = join(dir, 'file');
    await writeFile(file, '');
    expect((await refusal(file)).message).toContain('it is not a directory');
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    expect((await refusal(open)).message).toContain('other users can write to it (mode 777)');
  });

  it('says PHYS_WORKDIR_UNUSABLE when it cannot create it', async () => {
    const file = join(dir, 'plain');
    await writeFile(file, '');
    const error = await refusal(join(file, 'below'));
    expect(error.code).toBe('PHYS_WORKDIR_UNUSABLE');
    expect(error.message).toMatch(/^Cannot create the work directory .*below: .*set `workDir`\.$/);
  });

  // Only root can give a directory away; other users check privateDirProblem below.
  it.runIf(uid === 0)("refuses another user's directory", async () => {
    const theirs = join(dir, 'theirs');
    await mkdir(theirs, { mode: 0o700 });
    await chown(theirs, 4242, 4242);
    const error = await refusal(theirs);
    expect(error.code).toBe('PHYS_WORKDIR_UNSAFE');
    expect(error.message).toContain('it belongs to another user (uid 4242; you are uid 0)');
    expect(await readdir(theirs)).toEqual([]);
  });

  it("refuses another user's directory (privateDirProblem, as for a stat of one)", () => {
    const theirs = {
      uid: uid + 1,
      mode: 0o40700,
      isDirectory: () => true,
      isSymbolicLink: () => false,
    };
    expect(privateDirProblem(theirs, uid)).toBe(
      `it belongs to another user (uid ${uid + 1}; you are uid ${uid})`,
    );
    expect(privateDirProblem({ ...theirs, uid }, uid)).toBeUndefined();
    expect(privateDirProblem({ ...theirs, uid, mode: 0o40720 }, uid)).toBe(
      'other users can write to it (mode 720)',
    );
  });
});

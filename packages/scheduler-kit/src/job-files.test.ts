import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logTail, safeFileName } from './job-files.js';

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

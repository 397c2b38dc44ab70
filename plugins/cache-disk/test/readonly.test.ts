// A cache on a read-only file system must say so: Node's recursive mkdir reports ENOENT there,
// which sent users looking for a missing directory.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { assertBuilt, finished, fixtures, spawnNode } from './helpers.js';

// A read-only mount needs a mount namespace: as root, or as a user where user namespaces are
// allowed (most Linux systems). Elsewhere this test cannot set its scene and is skipped.
const inReadOnlyMount = ['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c'];
const script = 'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"';
const canMount =
  process.platform === 'linux' &&
  spawnSync(inReadOnlyMount[0] as string, [
    ...inReadOnlyMount.slice(1),
    script,
    'sh',
    tmpdir(),
    'true',
  ]).status === 0;

let mount: string;
beforeAll(assertBuilt);
beforeEach(() => {
  mount = fs.mkdtempSync(join(tmpdir(), 'phys-cache-ro-'));
});
afterEach(() => {
  fs.rmSync(mount, { recursive: true, force: true });
});

describe('a cache on a read-only file system', () => {
  it.skipIf(!canMount)('reports EROFS and says the file system is read-only', async () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(
      inReadOnlyMount[0] as string,
      [
        ...inReadOnlyMount.slice(1),
        script,
        'sh',
        mount,
        process.execPath,
        join(fixtures, 'readonly-put.mjs'),
        mount,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env },
    );
    const out = await finished(child);
    expect(out.code, out.stderr).toBe(0);
    const reports = JSON.parse(out.stdout) as Record<string, Record<string, string>>;
    for (const name of ['local', 'shared']) {
      const report = reports[name] as Record<string, string>;
      expect(report).toMatchObject({ code: 'PHYS_CACHE_DISK_IO', errno: 'EROFS' });
      expect(report.message).toContain('(EROFS)');
      expect(report.message).toContain('read-only');
      expect(report.message).not.toContain('ENOENT');
    }
  });
});

describe('a cache where mkdir says ENOENT although the parent exists (/proc)', () => {
  // Node's recursive mkdir retried such a directory forever, at full CPU: `phys run` with a
  // cacheDir under /proc hung with its nodes completed and ignored Ctrl-C (the loop is
  // synchronous). The write must fail at once, as on any unusable directory.
  it.skipIf(!fs.existsSync('/proc/self'))('fails the write with PHYS_CACHE_DISK_IO', async () => {
    const child = spawnNode('readonly-put.mjs', [`/proc/phys-cache-${process.pid}`]);
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const out = await finished(child).finally(() => clearTimeout(killer));
    expect(out.signal, 'the write spun until it was killed').toBeNull();
    expect(out.code, out.stderr).toBe(0);
    const reports = JSON.parse(out.stdout) as Record<string, Record<string, string>>;
    for (const name of ['local', 'shared']) {
      expect(reports[name]).toMatchObject({ code: 'PHYS_CACHE_DISK_IO', errno: 'ENOENT' });
      expect(reports[name]?.message).toContain('Check that the cache directory exists');
    }
  });
});

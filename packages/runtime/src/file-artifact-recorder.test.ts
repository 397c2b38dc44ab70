import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileArtifactRecorder } from './file-artifact-recorder.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-art-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('FileArtifactRecorder', () => {
  it('writes text as .txt and reports size, hash and media type', async () => {
    const ref = await new FileArtifactRecorder(dir).record('demo.fit.log', 'χ² = 1.02\n');
    expect(basename(ref.path)).toBe('demo.fit.log.txt');
    const bytes = await readFile(ref.path);
    expect(bytes.toString('utf8')).toBe('χ² = 1.02\n');
    expect(ref).toEqual({
      path: ref.path,
      bytes: bytes.byteLength,
      sha256: sha256(bytes),
      mediaType: 'text/plain',
    });
  });

  it('writes the raw bytes of typed arrays, also of a view into a larger buffer', async () => {
    const backing = new Float64Array([9, 1, 2, 3, 9]);
    const view = backing.subarray(1, 4);
    const ref = await new FileArtifactRecorder(dir).record('demo.field', view);
    const bytes = await readFile(ref.path);
    expect(basename(ref.path)).toBe('demo.field.bin');
    expect(ref.mediaType).toBe('application/octet-stream');
    expect(ref.bytes).toBe(24);
    expect(Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, 3))).toEqual([1, 2, 3]);
    expect(ref.sha256).toBe(sha256(bytes));
  });

  it('writes objects and arrays as JSON, with typed arrays as lists and bigints as strings', async () => {
    const ref = await new FileArtifactRecorder(dir).record('demo.summary', {
      energy: [1, 2],
      samples: new Int32Array([4, 5]),
      steps: 10n,
    });
    expect(basename(ref.path)).toBe('demo.summary.json');
    expect(ref.mediaType).toBe('application/json');
    expect(JSON.parse(await readFile(ref.path, 'utf8'))).toEqual({
      energy: [1, 2],
      samples: [4, 5],
      steps: '10',
    });
  });

  it('gives distinct keys distinct files, even keys the original sanitiser merged', async () => {
    const recorder = new FileArtifactRecorder(dir);
    const keys = ['a.b', 'a_b', 'a/b', '.a', '_a', '%2Ea', '..', 'a b'];
    const refs = await Promise.all(keys.map((k) => recorder.record(k, k)));
    expect(new Set(refs.map((r) => r.path)).size).toBe(keys.length);
    for (const [i, ref] of refs.entries()) {
      expect(await readFile(ref.path, 'utf8')).toBe(keys[i]);
      expect(basename(ref.path).startsWith('.')).toBe(false);
    }
    expect((await readdir(dir)).sort()).toEqual(refs.map((r) => basename(r.path)).sort());
  });

  it('replaces an artifact recorded again under the same key, leaving no temp files', async () => {
    const recorder = new FileArtifactRecorder(dir);
    await recorder.record('demo.log', 'first');
    const ref = await recorder.record('demo.log', 'second');
    expect(await readFile(ref.path, 'utf8')).toBe('second');
    expect(await readdir(dir)).toEqual(['demo.log.txt']);
  });

  it('creates its root directory', async () => {
    const root = join(dir, 'nested', 'artifacts');
    const ref = await new FileArtifactRecorder(root).record('x', 'y');
    expect(ref.path).toBe(join(root, 'x.txt'));
  });
});

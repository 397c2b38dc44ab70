import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PhysError } from '@phys/core';
import { jsonValue, type ManifestFile, sha256Hex } from './manifest.js';

/**
 * A file or directory name for any string: characters safe on every platform are kept
 * (`train[bs=32,lr=0.01]` stays readable), others and `%` are percent-encoded, and a leading
 * dot is encoded so that nothing is hidden. Distinct inputs give distinct names.
 */
export function safeName(text: string): string {
  const encoded = Array.from(text, (ch) =>
    /[A-Za-z0-9._=,+@[\]()-]/.test(ch)
      ? ch
      : Array.from(
          Buffer.from(ch, 'utf8'),
          (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
        ).join(''),
  ).join('');
  return encoded.replace(/^\./, '%2E');
}

/** True for an `ArtifactRef` (a recorded artifact file). */
function isArtifactRef(value: unknown): value is { path: string; sha256: string; bytes: number } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.path === 'string' &&
    typeof v.sha256 === 'string' &&
    typeof v.bytes === 'number' &&
    typeof v.mediaType === 'string'
  );
}

function artifactError(name: string, message: string, cause?: unknown): PhysError {
  return new PhysError('PHYS_PACKAGE_ARTIFACT_INVALID', `Artifact '${name}': ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { artifact: name },
  });
}

/** Path inside the package for artifact `name`: `files/<segments>`, with `ext` if it has none. */
function artifactPath(name: string, ext: string): string {
  const segments = name.split('/');
  if (segments.some((s) => s === '')) {
    throw artifactError(
      name,
      'its name has an empty path segment; name artifacts like `weights` or `model/weights.bin`.',
    );
  }
  const path = `files/${segments.map(safeName).join('/')}`;
  return extname(path) === '' ? `${path}${ext}` : path;
}

/**
 * Writes the model files of a stage result under `dir`: every artifact that is data becomes a
 * file under `files/` (bytes, text, JSON, or a copy of a recorded artifact file); scalars are
 * returned as manifest values. Lazy artifacts are evaluated.
 */
export async function writeModelFiles(
  dir: string,
  artifacts: Readonly<Record<string, unknown>>,
): Promise<{ files: ManifestFile[]; values: Record<string, number | string | boolean | null> }> {
  const files: ManifestFile[] = [];
  const values: Record<string, number | string | boolean | null> = {};
  const taken = new Map<string, string>();
  const claim = (name: string, path: string) => {
    const other = taken.get(path);
    if (other !== undefined) {
      throw artifactError(
        name,
        `it would be written to ${path}, like artifact '${other}'; rename one of them.`,
      );
    }
    taken.set(path, name);
  };
  for (const name of Object.keys(artifacts).sort()) {
    let value = artifacts[name];
    if (typeof value === 'function') {
      try {
        value = await (value as () => unknown)();
      } catch (error) {
        throw artifactError(name, `its lazy producer failed: ${String(error)}`, error);
      }
    }
    if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
      values[name] = typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
      continue;
    }
    if (isArtifactRef(value)) {
      const path = artifactPath(name, extname(value.path));
      claim(name, path);
      files.push(await copyRecorded(name, value, join(dir, path), path));
      continue;
    }
    let bytes: Uint8Array;
    let ext: string;
    let mediaType: string;
    if (typeof value === 'string') {
      bytes = Buffer.from(value, 'utf8');
      ext = '.txt';
      mediaType = 'text/plain';
    } else if (ArrayBuffer.isView(value)) {
      bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      ext = '.bin';
      mediaType = 'application/octet-stream';
    } else if (Array.isArray(value) || isPlain(value)) {
      bytes = Buffer.from(`${JSON.stringify(jsonValue(value), null, 2)}\n`, 'utf8');
      ext = '.json';
      mediaType = 'application/json';
    } else {
      throw artifactError(
        name,
        `cannot package ${typeof value === 'object' ? `a ${(value as object).constructor?.name ?? 'object'}` : typeof value}; return bytes (Uint8Array), text, JSON data, an ArtifactRef, or a scalar.`,
      );
    }
    const path = artifactPath(name, ext);
    claim(name, path);
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
    files.push({
      path,
      sha256: sha256Hex(bytes),
      bytes: bytes.byteLength,
      role: 'model',
      mediaType,
    });
  }
  return { files, values };
}

function isPlain(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

async function copyRecorded(
  name: string,
  ref: { path: string; sha256: string; bytes: number; mediaType?: string },
  target: string,
  path: string,
): Promise<ManifestFile> {
  await mkdir(dirname(target), { recursive: true });
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(ref.path), tap, createWriteStream(target));
  } catch (error) {
    throw artifactError(name, `cannot copy its recorded file ${ref.path}: ${String(error)}`, error);
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== ref.sha256) {
    throw artifactError(
      name,
      `its recorded file ${ref.path} changed since it was recorded (sha256 ${sha256}, recorded ${ref.sha256}); re-run the stage.`,
    );
  }
  return {
    path,
    sha256,
    bytes,
    role: 'model',
    mediaType: ref.mediaType ?? 'application/octet-stream',
  };
}

/** SHA-256 and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), bytes };
}

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactData, ArtifactRecorder, ArtifactRef } from '@phys/core';

/**
 * Writes each artifact as one file under `root`, named by its key (percent-encoded, so distinct
 * keys never collide), atomically (temp file + rename).
 * @public
 */
export class FileArtifactRecorder implements ArtifactRecorder {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  async record(key: string, data: ArtifactData): Promise<ArtifactRef> {
    const { bytes, ext, mediaType } = toBytes(data);
    await mkdir(this.root, { recursive: true });
    const path = join(this.root, `${fileNameOf(key)}${ext}`);
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
    return {
      path,
      bytes: bytes.byteLength,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      mediaType,
    };
  }
}

/**
 * Percent-encoding is injective, so distinct keys get distinct names; dots stay readable
 * (`demo.fit.plot`) except a leading one, which would hide the file. encodeURIComponent leaves
 * dots alone, so no other key's name can start with `%2E`: the replacement cannot collide.
 */
function fileNameOf(key: string): string {
  return encodeURIComponent(key).replace(/^\./, '%2E');
}

function toBytes(data: ArtifactData): { bytes: Uint8Array; ext: string; mediaType: string } {
  if (typeof data === 'string') {
    return { bytes: Buffer.from(data, 'utf8'), ext: '.txt', mediaType: 'text/plain' };
  }
  if (ArrayBuffer.isView(data)) {
    return {
      bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      ext: '.bin',
      mediaType: 'application/octet-stream',
    };
  }
  return {
    bytes: Buffer.from(
      JSON.stringify(data, (_k, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
          return Array.from(v as unknown as ArrayLike<number>);
        }
        return v;
      }),
      'utf8',
    ),
    ext: '.json',
    mediaType: 'application/json',
  };
}

// What someone who forges a package can write: a manifest listing any path, with every hash
// recomputed as the format describes, and a .tar.gz holding any entry names.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import {
  contentHashOf,
  integrityOf,
  type ModelManifest,
  renderManifest,
  sha256Hex,
} from '../src/manifest.js';
import type { ModelPackage } from '../src/packager.js';

/** One archive entry: a file with its bytes, or a directory. */
export interface Entry {
  readonly path: string;
  readonly data?: string | Uint8Array;
  readonly type?: 'File' | 'Directory';
}

/** A .tar.gz holding exactly `entries`, in order, with their names as given. */
export function tarGz(entries: readonly Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const dir = entry.type === 'Directory';
    const data = Buffer.from(entry.data ?? '');
    const header = new tar.Header({
      path: entry.path,
      mode: dir ? 0o755 : 0o644,
      size: dir ? 0 : data.byteLength,
      mtime: new Date(0),
      type: dir ? 'Directory' : 'File',
      uid: 0,
      gid: 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (!dir) blocks.push(data, Buffer.alloc((512 - (data.byteLength % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/**
 * The manifest of `pkg` with `extra` files listed (path → content), its content hash and
 * integrity recomputed: it verifies as far as hashes go.
 */
export function forgeManifest(
  pkg: ModelPackage,
  extra: Readonly<Record<string, string>>,
): ModelManifest {
  const files = [
    ...pkg.manifest.files,
    ...Object.entries(extra).map(([path, text]) => ({
      path,
      sha256: sha256Hex(text),
      bytes: Buffer.byteLength(text),
      role: 'model' as const,
      mediaType: 'text/plain',
    })),
  ];
  const draft = { ...pkg.manifest, files, integrity: '' };
  const withHash = { ...draft, contentHash: contentHashOf(draft) };
  return { ...withHash, integrity: integrityOf(withHash) };
}

/**
 * An archive of `pkg` under its top directory whose manifest also lists `extra` (path →
 * content) and which holds those entries (`<top>/<path>`), written to `file`.
 */
export async function forgeArchive(
  pkg: ModelPackage,
  extra: Readonly<Record<string, string>>,
  file: string,
): Promise<string> {
  const top = `${pkg.name}-${pkg.version}`;
  const manifest = forgeManifest(pkg, extra);
  const entries: Entry[] = [{ path: `${top}/manifest.json`, data: renderManifest(manifest) }];
  for (const f of pkg.manifest.files) {
    entries.push({ path: `${top}/${f.path}`, data: await readFile(join(pkg.path, f.path)) });
  }
  // A name ending in / is a directory to tar; the file goes under the name without it.
  for (const [path, text] of Object.entries(extra))
    entries.push({ path: `${top}/${path.replace(/\/+$/, '')}`, data: text });
  await writeFile(file, tarGz(entries));
  return file;
}

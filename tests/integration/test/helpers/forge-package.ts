// A model package archive forged as someone with write access to it could: its manifest lists a
// path outside the package, every hash recomputed as docs/ml-package-format.md describes, and the
// .tar.gz holds that entry. The archive is written by hand (ustar), so no tar library tidies names.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ModelPackage } from '@phys/ml-packager';

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** One ustar entry: a 512-byte header, then the data padded to 512 bytes. */
function entry(path: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`;
  header.write(path, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(data.byteLength, 12), 124);
  header.write(octal(0, 12), 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.byteLength % 512)) % 512);
  return Buffer.concat([header, data, pad]);
}

/** Writes to `file` an archive of `pkg` whose manifest also lists `path` (with `text`), and returns it. */
export async function forgeArchive(
  pkg: ModelPackage,
  path: string,
  text: string,
  file: string,
): Promise<string> {
  const m = pkg.manifest;
  const files = [
    ...m.files,
    {
      path,
      sha256: sha256(text),
      bytes: Buffer.byteLength(text),
      role: 'model' as const,
      mediaType: 'text/plain',
    },
  ];
  const contentHash = sha256(
    canonicalJson({
      format: m.format,
      stage: m.stage,
      config: m.config,
      metrics: m.metrics,
      cacheKey: m.provenance.cacheKey,
      lineage: m.provenance.lineage,
      values: m.values,
      files: files
        .filter((f) => f.role !== 'card')
        .map((f) => ({ path: f.path, sha256: f.sha256, bytes: f.bytes })),
    }),
  );
  const { integrity: _old, ...rest } = { ...m, contentHash, files };
  const manifest = { ...m, contentHash, files, integrity: `sha256-${sha256(canonicalJson(rest))}` };
  const top = `${pkg.name}-${pkg.version}`;
  const parts = [
    entry(`${top}/manifest.json`, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)),
  ];
  for (const f of m.files)
    parts.push(entry(`${top}/${f.path}`, await readFile(join(pkg.path, f.path))));
  parts.push(entry(`${top}/${path}`, Buffer.from(text)), Buffer.alloc(1024));
  await writeFile(file, gzipSync(Buffer.concat(parts)));
  return file;
}

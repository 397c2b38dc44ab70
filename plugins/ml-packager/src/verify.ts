import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PhysError } from '@phys/core';
import * as tar from 'tar';
import { hashFile } from './files.js';
import {
  contentHashOf,
  integrityOf,
  type ModelManifest,
  modelManifestSchema,
  renderManifest,
} from './manifest.js';
import { UNSAFE_PATH_CODE, unsafePathError, unsafePathMessage, unsafePathReason } from './paths.js';

/** What kind of problem `verify` found. @public */
export type VerifyProblemKind =
  | 'changed'
  | 'missing'
  | 'added'
  | 'unexpected-entry'
  | 'manifest-missing'
  | 'manifest-invalid'
  | 'archive-invalid'
  | 'unsafe-path';

/** One problem `verify` found. @public */
export interface VerifyProblem {
  /** What is wrong. */
  readonly kind: VerifyProblemKind;
  /** Path inside the package (`manifest.json`, `files/weights.bin`, ...). */
  readonly path: string;
  /** A sentence saying what is wrong. */
  readonly message: string;
  /** What the manifest says, for changed files. */
  readonly expected?: { readonly sha256: string; readonly bytes: number };
  /** What the file holds, for changed files. */
  readonly actual?: { readonly sha256: string; readonly bytes: number };
}

/** The outcome of `verify`. @public */
export interface VerifyReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** The verified path, absolute. */
  readonly path: string;
  /** Whether a directory or an archive was verified. */
  readonly kind: 'directory' | 'archive';
  /** The parsed manifest, when it could be read. */
  readonly manifest: ModelManifest | undefined;
  /** Number of files listed by the manifest that were checked. */
  readonly checked: number;
  /** Every problem found; empty when `ok`. */
  readonly problems: readonly VerifyProblem[];
  /**
   * The error code `verifyOrThrow` and `load` throw for these problems: `PHYS_PACKAGE_UNSAFE_PATH`
   * when a path leads outside the package, else `PHYS_PACKAGE_INVALID`; undefined when `ok`.
   */
  readonly code: string | undefined;
}

interface Found {
  readonly sha256: string;
  readonly bytes: number;
}

/** A directory or archive's content, as `verify` compares it against the manifest. */
interface Content {
  readonly manifestText: string | undefined;
  readonly files: ReadonlyMap<string, Found>;
  readonly problems: VerifyProblem[];
}

export function notFound(path: string, cause?: unknown): PhysError {
  return new PhysError(
    'PHYS_PACKAGE_NOT_FOUND',
    `No model package at ${path}: give a package directory (<root>/<name>/<version>) or its .tar.gz archive.`,
    { ...(cause === undefined ? {} : { cause }), details: { path } },
  );
}

/** True for paths `verify` and `load` read as archives. */
export function isArchivePath(path: string): boolean {
  return /\.(tar\.gz|tgz)$/i.test(path);
}

/**
 * Checks a package directory or `.tar.gz` archive: the manifest parses, is written exactly as
 * phys writes it, and matches its integrity hash and content hash; every listed file exists
 * with its SHA-256 and size; nothing else is there. Returns every problem found.
 * @public
 */
export async function verifyPackage(path: string): Promise<VerifyReport> {
  const absolute = resolve(path);
  const stats = await lstat(absolute).catch((error: unknown) => {
    throw notFound(absolute, error);
  });
  const kind = stats.isDirectory() ? 'directory' : 'archive';
  if (kind === 'archive' && !stats.isFile()) throw notFound(absolute);
  const content =
    kind === 'directory' ? await readDirectory(absolute) : await readArchive(absolute);
  const problems = content.problems;
  let manifest: ModelManifest | undefined;
  let checked = 0;
  if (content.manifestText === undefined) {
    if (!problems.some((p) => p.kind === 'archive-invalid')) {
      problems.push({
        kind: 'manifest-missing',
        path: 'manifest.json',
        message: 'manifest.json is missing, so no file can be checked',
      });
    }
  } else {
    manifest = parseManifest(content.manifestText, problems);
    if (manifest !== undefined) {
      const listed = new Set<string>();
      for (const file of manifest.files) {
        listed.add(file.path);
        checked++;
        const unsafe = unsafePathReason(file.path);
        if (unsafe !== undefined) {
          problems.push({
            kind: 'unsafe-path',
            path: file.path,
            message: unsafePathMessage('manifest', file.path, unsafe),
          });
          continue;
        }
        const found = content.files.get(file.path);
        if (found === undefined) {
          problems.push({
            kind: 'missing',
            path: file.path,
            message: 'listed in the manifest but missing',
          });
        } else if (found.sha256 !== file.sha256 || found.bytes !== file.bytes) {
          problems.push({
            kind: 'changed',
            path: file.path,
            message:
              found.bytes === file.bytes
                ? `content changed (sha256 ${found.sha256}, manifest says ${file.sha256})`
                : `content changed (${found.bytes} bytes, manifest says ${file.bytes})`,
            expected: { sha256: file.sha256, bytes: file.bytes },
            actual: found,
          });
        }
      }
      for (const path of [...content.files.keys()].sort()) {
        if (path !== 'manifest.json' && !listed.has(path)) {
          problems.push({ kind: 'added', path, message: 'not listed in the manifest' });
        }
      }
    }
  }
  const code =
    problems.length === 0
      ? undefined
      : problems.some((p) => p.kind === 'unsafe-path')
        ? UNSAFE_PATH_CODE
        : 'PHYS_PACKAGE_INVALID';
  return { ok: problems.length === 0, path: absolute, kind, manifest, checked, problems, code };
}

function parseManifest(text: string, problems: VerifyProblem[]): ModelManifest | undefined {
  const bad = (message: string) =>
    problems.push({ kind: 'manifest-invalid', path: 'manifest.json', message });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    bad(`not valid JSON (${(error as Error).message})`);
    return undefined;
  }
  const parsed = modelManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    bad(`not a phys model manifest (${first})`);
    return undefined;
  }
  const manifest = parsed.data;
  if (integrityOf(raw as Record<string, unknown>) !== manifest.integrity) {
    bad('its content does not match its integrity hash: a field was edited');
  } else if (renderManifest(raw as ModelManifest) !== text) {
    bad('it was reformatted or edited after packaging (its bytes differ from what phys wrote)');
  }
  if (contentHashOf(manifest) !== manifest.contentHash) {
    bad('its contentHash does not match the stage, config, metrics, lineage and files it lists');
  }
  return manifest;
}

async function readDirectory(root: string): Promise<Content> {
  const files = new Map<string, Found>();
  const problems: VerifyProblem[] = [];
  let manifestText: string | undefined;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full, rel);
      else if (entry.isFile()) {
        if (rel === 'manifest.json') manifestText = await readFile(full, 'utf8');
        files.set(rel, await hashFile(full));
      } else {
        problems.push({
          kind: 'unexpected-entry',
          path: rel,
          message: `${entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; packages hold only files and directories`,
        });
      }
    }
  };
  await walk(root, '');
  return { manifestText, files, problems };
}

/**
 * Reads an archive without extracting it: every entry is hashed as it streams by. All entries
 * must sit under one top directory, as `package` writes them.
 */
async function readArchive(file: string): Promise<Content> {
  const files = new Map<string, Found>();
  const problems: VerifyProblem[] = [];
  const pending: Promise<void>[] = [];
  const tops = new Set<string>();
  let manifestText: string | undefined;
  try {
    await tar.t({
      file,
      strict: true,
      onReadEntry(entry) {
        const path = entry.path.replace(/\/+$/, '');
        const unsafe = unsafePathReason(path);
        if (unsafe !== undefined) {
          // Never listed, so never extracted: `load` refuses the archive before extracting.
          problems.push({
            kind: 'unsafe-path',
            path,
            message: unsafePathMessage('archive', path, unsafe),
          });
          entry.resume();
          return;
        }
        const slash = path.indexOf('/');
        tops.add(slash === -1 ? path : path.slice(0, slash));
        const rel = slash === -1 ? '' : path.slice(slash + 1);
        if (entry.type === 'Directory') {
          entry.resume();
          return;
        }
        if (entry.type !== 'File' && entry.type !== 'OldFile') {
          problems.push({
            kind: 'unexpected-entry',
            path: rel || path,
            message: `a ${entry.type} entry; packages hold only files and directories`,
          });
          entry.resume();
          return;
        }
        if (rel === '') {
          problems.push({
            kind: 'archive-invalid',
            path,
            message: 'a file outside the package directory of the archive',
          });
          entry.resume();
          return;
        }
        const hash = createHash('sha256');
        const chunks: Buffer[] = [];
        let bytes = 0;
        const keep = rel === 'manifest.json';
        entry.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.byteLength;
          if (keep) chunks.push(chunk);
        });
        pending.push(
          new Promise<void>((done) => {
            entry.on('end', () => {
              if (keep) manifestText = Buffer.concat(chunks).toString('utf8');
              files.set(rel, { sha256: hash.digest('hex'), bytes });
              done();
            });
          }),
        );
      },
    });
    await Promise.all(pending);
  } catch (error) {
    problems.push({
      kind: 'archive-invalid',
      path: file,
      message: `not a readable .tar.gz archive (${(error as Error).message})`,
    });
    return { manifestText: undefined, files, problems };
  }
  if (tops.size > 1) {
    problems.push({
      kind: 'archive-invalid',
      path: file,
      message: `entries under ${tops.size} top directories (${[...tops].slice(0, 5).join(', ')}); a package archive has exactly one`,
    });
  }
  return { manifestText, files, problems };
}

/**
 * Like {@link verifyPackage}, but throws a `PhysError` listing every problem when the package is
 * not intact: `PHYS_PACKAGE_UNSAFE_PATH` when it names a path outside itself (an absolute path,
 * a `..` segment, ...), else `PHYS_PACKAGE_INVALID`.
 * @public
 */
export async function verifyPackageOrThrow(path: string): Promise<VerifyReport> {
  const report = await verifyPackage(path);
  if (report.code === UNSAFE_PATH_CODE) {
    throw unsafePathError(
      report.path,
      report.problems.filter((p) => p.kind === 'unsafe-path'),
      report.problems,
    );
  }
  if (!report.ok) {
    const listed = report.problems
      .slice(0, 20)
      .map((p) => `  - ${p.kind} ${p.path}: ${p.message}`)
      .join('\n');
    const more =
      report.problems.length > 20 ? `\n  ... and ${report.problems.length - 20} more` : '';
    throw new PhysError(
      'PHYS_PACKAGE_INVALID',
      `Model package ${report.path} failed verification (${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}):\n${listed}${more}\nDo not use it: re-package the model from its run, or restore the package from a copy.`,
      { details: { path: report.path, problems: report.problems } },
    );
  }
  return report;
}

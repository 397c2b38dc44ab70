import { randomUUID } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import {
  decodeState,
  encodeState,
  type ModelPackageInfo,
  type ModelPackager,
  PhysError,
  type StageResult,
} from '@phys/core';
import * as tar from 'tar';
import { captureEnvironment, type ModelEnvironment } from './environment.js';
import { safeName, writeModelFiles } from './files.js';
import {
  contentHashOf,
  integrityOf,
  jsonValue,
  MODEL_PACKAGE_FORMAT,
  type ModelManifest,
  renderManifest,
  sha256Hex,
} from './manifest.js';
import { renderModelCard } from './model-card.js';
import { type VerifyReport, verifyPackage, verifyPackageOrThrow } from './verify.js';

/** Options of {@link ModelArtifactPackager}. @public */
export interface ModelArtifactPackagerOptions {
  /** Directory packages are written under, as `<root>/<name>/<version>/`. */
  readonly root: string;
  /** Also write `<root>/<name>/<version>.tar.gz` (default true). */
  readonly archive?: boolean;
  /** Directory whose git commit and installed `@phys/*` packages are recorded (default: the cwd). */
  readonly projectDir?: string;
}

/** What {@link ModelArtifactPackager.package} takes besides the node id and its result. @public */
export interface PackageOptions extends ModelPackageInfo {
  /** Package name (default: the node id); the directory name is a file-safe form of it. */
  readonly name?: string;
  /**
   * Version directory name (default: the first 16 hex digits of the content hash). An existing
   * version with other content is an error, never overwritten.
   */
  readonly version?: string;
}

/** A written package. @public */
export interface ModelPackage {
  /** The package directory, absolute. */
  readonly path: string;
  /** The `.tar.gz` of the directory, when archives are on. */
  readonly archive: string | undefined;
  /** The package name (the node id unless given). */
  readonly name: string;
  /** The version directory name. */
  readonly version: string;
  /** The manifest as written (or as found, when reused). */
  readonly manifest: ModelManifest;
  /** True when an intact package with the same content was already there and was kept. */
  readonly reused: boolean;
}

/** Options of {@link ModelArtifactPackager.load}. @public */
export interface LoadOptions {
  /** Also decode `state.bin` into `state`. */
  readonly state?: boolean;
  /**
   * Where an archive is extracted (default: a new temporary directory): a directory that does not
   * exist yet, an empty one, or one holding this same package (it is replaced). The archive is
   * extracted beside it and renamed into place, so a failed load leaves nothing there.
   */
  readonly extractTo?: string;
}

/** A verified package, ready to use. @public */
export interface LoadedModelPackage {
  /** The package directory (for an archive: where it was extracted). */
  readonly path: string;
  /** The verified manifest. */
  readonly manifest: ModelManifest;
  /** Absolute path of every listed file, by its path in the package (`state.bin`, `files/...`). */
  readonly files: Readonly<Record<string, string>>;
  /** The decoded state, when asked for. */
  readonly state?: unknown;
}

/**
 * Packages a node's model output into a versioned directory and a `.tar.gz`: `state.bin` (the
 * output state in the phys codec), the model files (artifacts that are bytes, text, JSON or
 * recorded files, under `files/`), `manifest.json` (every file's SHA-256 and size, the stage,
 * config, metrics, cache key, upstream lineage and environment), and a model card `README.md`.
 * Packages are written to a temporary directory and renamed into place, so a reader never sees
 * a half-written one.
 * @public
 */
export class ModelArtifactPackager implements ModelPackager {
  /** The absolute root directory of packages. */
  readonly root: string;
  readonly #archive: boolean;
  readonly #projectDir: string;
  #environment: Promise<ModelEnvironment> | undefined;

  constructor(options: ModelArtifactPackagerOptions) {
    if (typeof options?.root !== 'string' || options.root === '') {
      throw new PhysError(
        'PHYS_USAGE',
        "ModelArtifactPackager needs a `root` directory, e.g. new ModelArtifactPackager({ root: 'models' }).",
      );
    }
    this.root = resolve(options.root);
    this.#archive = options.archive ?? true;
    this.#projectDir = resolve(options.projectDir ?? process.cwd());
  }

  /** Packages the result of node `nodeId`; see {@link PackageOptions}. */
  async package(
    nodeId: string,
    result: StageResult,
    options: PackageOptions = {},
  ): Promise<ModelPackage> {
    if (typeof nodeId !== 'string' || nodeId === '') {
      throw new PhysError(
        'PHYS_USAGE',
        'package() needs the id of the node whose result it packages.',
      );
    }
    if (typeof result !== 'object' || result === null || !('state' in result)) {
      throw new PhysError(
        'PHYS_USAGE',
        `package('${nodeId}', result) needs a stage result { state, metrics?, artifacts?, provenance? }.`,
      );
    }
    const name = options.name ?? nodeId;
    if (options.version !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(options.version)) {
      throw new PhysError(
        'PHYS_USAGE',
        `Version ${JSON.stringify(options.version)} is not usable as a directory name; use letters, digits, '.', '_', '+' and '-', e.g. '1.2.0'.`,
      );
    }
    const nameDir = join(this.root, safeName(name));
    const staging = join(nameDir, `.staging-${randomUUID()}`);
    try {
      await mkdir(nameDir, { recursive: true });
      return await this.#write(nodeId, name, nameDir, staging, result, options);
    } catch (error) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      if (PhysError.is(error)) throw error;
      const cause = fileSystemCause(error);
      throw new PhysError(
        'PHYS_PACKAGE_WRITE_FAILED',
        `Cannot write the model package of node '${nodeId}' under ${nameDir}: ${(error as Error).message}. ${cause.advice} (or set the packager's \`root\` elsewhere).`,
        {
          cause: error,
          retryable: cause.retryable,
          details: {
            nodeId,
            root: this.root,
            ...(cause.errno === undefined ? {} : { errno: cause.errno }),
          },
        },
      );
    }
  }

  async #write(
    nodeId: string,
    name: string,
    nameDir: string,
    staging: string,
    result: StageResult,
    options: PackageOptions,
  ): Promise<ModelPackage> {
    await mkdir(staging);
    const state = encodeState(result.state);
    await writeFile(join(staging, 'state.bin'), state);
    const model = await writeModelFiles(staging, result.artifacts ?? {});
    const files: ModelManifest['files'] = [
      {
        path: 'state.bin',
        sha256: sha256Hex(state),
        bytes: state.byteLength,
        role: 'state',
        mediaType: 'application/vnd.phys.state',
      },
      ...model.files,
    ];
    const stage = options.stage;
    const draft = {
      format: MODEL_PACKAGE_FORMAT,
      name,
      version: '',
      createdAt: new Date().toISOString(),
      node: {
        id: nodeId,
        ...(options.runId === undefined ? {} : { runId: options.runId }),
        cached: options.cached ?? false,
      },
      stage:
        stage === undefined
          ? null
          : (jsonValue({
              name: stage.name,
              version: stage.version,
              label: stage.label,
              configHash: stage.configHash,
            }) as NonNullable<ModelManifest['stage']>),
      config: jsonValue(options.config) ?? null,
      metrics: jsonValue(options.metrics ?? result.metrics ?? {}) as ModelManifest['metrics'],
      provenance: {
        ...(options.cacheKey === undefined ? {} : { cacheKey: options.cacheKey }),
        lineage: (options.lineage ?? []).map((l) => ({
          nodeId: l.nodeId,
          ...(l.cacheKey === undefined ? {} : { cacheKey: l.cacheKey }),
        })),
        run: jsonValue(options.provenance ?? result.provenance ?? {}) as Record<string, unknown>,
      },
      environment: await this.#env(),
      values: model.values,
      files,
    };
    const contentHash = contentHashOf(draft);
    const version = options.version ?? contentHash.slice(0, 16);
    const dir = join(nameDir, version);
    const existing = await readManifest(dir);
    if (existing !== undefined) {
      if (existing.contentHash === contentHash && (await verifyPackage(dir)).ok) {
        await rm(staging, { recursive: true, force: true });
        const archive = this.#archive
          ? await this.#ensureArchive(dir, name, version, existing)
          : undefined;
        return { path: dir, archive, name, version, manifest: existing, reused: true };
      }
      if (options.version !== undefined && existing.contentHash !== contentHash) {
        throw new PhysError(
          'PHYS_PACKAGE_EXISTS',
          `Model '${name}' version '${version}' already exists at ${dir} with other content (content hash ${existing.contentHash}, new ${contentHash}). Give the new model another version, or leave the version out to name it by its content hash.`,
          { details: { path: dir, existing: existing.contentHash, contentHash } },
        );
      }
    }
    const card = Buffer.from(renderModelCard({ ...draft, version, contentHash }), 'utf8');
    await writeFile(join(staging, 'README.md'), card);
    const unsigned = {
      ...draft,
      version,
      contentHash,
      files: [
        ...files,
        {
          path: 'README.md',
          sha256: sha256Hex(card),
          bytes: card.byteLength,
          role: 'card' as const,
          mediaType: 'text/markdown',
        },
      ],
    };
    // Key order of the written manifest: integrity right after contentHash, for readers.
    const { format, name: n, version: v, contentHash: h, ...rest } = unsigned;
    const ordered = { format, name: n, version: v, contentHash: h, integrity: '', ...rest };
    const manifest: ModelManifest = { ...ordered, integrity: integrityOf(ordered) };
    await writeFile(join(staging, 'manifest.json'), renderManifest(manifest));
    // A damaged package under the same version (or a crash between the renames) is replaced.
    if (existing !== undefined || (await exists(dir))) {
      const old = join(nameDir, `.replaced-${randomUUID()}`);
      await rename(dir, old);
      await rename(staging, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(staging, dir);
    }
    const archive = this.#archive
      ? await this.#writeArchive(dir, name, version, manifest)
      : undefined;
    return { path: dir, archive, name, version, manifest, reused: false };
  }

  #env(): Promise<ModelEnvironment> {
    this.#environment ??= captureEnvironment(this.#projectDir);
    return this.#environment;
  }

  async #ensureArchive(
    dir: string,
    name: string,
    version: string,
    manifest: ModelManifest,
  ): Promise<string> {
    const file = `${dir}.tar.gz`;
    if ((await exists(file)) && (await verifyPackage(file)).ok) return file;
    return this.#writeArchive(dir, name, version, manifest);
  }

  /**
   * `<version>.tar.gz` beside the directory, with every file under one top directory
   * `<name>-<version>/`, in sorted order, without owner or host details.
   */
  async #writeArchive(
    dir: string,
    name: string,
    version: string,
    manifest: ModelManifest,
  ): Promise<string> {
    const file = `${dir}.tar.gz`;
    const paths = ['manifest.json', ...manifest.files.map((f) => f.path)].sort();
    const tmp = `${file}.${randomUUID()}.tmp`;
    try {
      await tar.c(
        {
          gzip: true,
          file: tmp,
          cwd: dir,
          portable: true,
          prefix: `${safeName(name)}-${version}`,
        },
        paths,
      );
      await rename(tmp, file);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return file;
  }

  /** Checks a package directory or archive; see {@link verifyPackage}. */
  verify(path: string): Promise<VerifyReport> {
    return verifyPackage(path);
  }

  /** Like {@link ModelArtifactPackager.verify}, but throws `PHYS_PACKAGE_INVALID` when the package is not intact. */
  verifyOrThrow(path: string): Promise<VerifyReport> {
    return verifyPackageOrThrow(path);
  }

  /** Verifies and opens a package; see {@link loadPackage}. */
  load(path: string, options: LoadOptions = {}): Promise<LoadedModelPackage> {
    return loadPackage(path, options);
  }
}

/**
 * Verifies a package directory or archive (throwing `PHYS_PACKAGE_INVALID` if it is not intact,
 * `PHYS_PACKAGE_UNSAFE_PATH` if it names a path outside itself), extracts an archive, and returns
 * the typed manifest, the absolute path of every file, and the decoded state when `state: true`.
 * Nothing is extracted before the archive has verified, and a failed extraction leaves nothing
 * behind (`PHYS_PACKAGE_EXTRACT_FAILED`).
 * @public
 */
export async function loadPackage(
  path: string,
  options: LoadOptions = {},
): Promise<LoadedModelPackage> {
  const report = await verifyPackageOrThrow(path);
  const manifest = report.manifest as ModelManifest;
  let dir = report.path;
  if (report.kind === 'archive') dir = await extract(report.path, manifest, options.extractTo);
  const files: Record<string, string> = {};
  for (const file of manifest.files) files[file.path] = join(dir, ...file.path.split('/'));
  const loaded: LoadedModelPackage = { path: dir, manifest, files };
  if (options.state !== true) return loaded;
  const bytes = await readFile(files['state.bin'] as string);
  return {
    ...loaded,
    state: decodeState(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)),
  };
}

/**
 * Extracts a verified archive: only the files its manifest lists, into a new temporary directory,
 * or into a hidden sibling of `extractTo` that is renamed into place once complete. On failure
 * the partial extraction is removed.
 */
async function extract(
  file: string,
  manifest: ModelManifest,
  extractTo: string | undefined,
): Promise<string> {
  const target = extractTo === undefined ? undefined : resolve(extractTo);
  const replaces = target === undefined ? false : await checkTarget(target, manifest);
  const listed = new Set(['manifest.json', ...manifest.files.map((f) => f.path)]);
  const dirs = new Set<string>();
  for (const path of listed) {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
      dirs.add(path.slice(0, at));
    }
  }
  let work: string | undefined;
  try {
    if (target === undefined) {
      work = await mkdtemp(join(tmpdir(), 'phys-model-'));
    } else {
      await mkdir(dirname(target), { recursive: true });
      work = join(dirname(target), `.${basename(target)}.extract-${randomUUID()}`);
      await mkdir(work);
    }
    const into = work;
    await tar.x({
      file,
      cwd: into,
      strip: 1,
      strict: true,
      // verify has checked every entry; this keeps extraction to what it checked.
      filter: (path, entry) => {
        const slash = path.indexOf('/');
        const rel = slash === -1 ? '' : path.slice(slash + 1).replace(/\/+$/, '');
        const type = (entry as { type?: string }).type;
        if (type === 'Directory') return rel === '' || dirs.has(rel);
        return (type === 'File' || type === 'OldFile') && listed.has(rel);
      },
    });
    if (target === undefined) return into;
    if (replaces) {
      const old = join(dirname(target), `.${basename(target)}.replaced-${randomUUID()}`);
      await rename(target, old);
      await rename(into, target);
      await rm(old, { recursive: true, force: true });
    } else {
      // An empty directory given as the target goes; rename cannot replace it everywhere.
      await rmdir(target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      await rename(into, target);
    }
    return target;
  } catch (error) {
    if (work !== undefined) await rm(work, { recursive: true, force: true }).catch(() => undefined);
    const cause = fileSystemCause(error);
    throw new PhysError(
      'PHYS_PACKAGE_EXTRACT_FAILED',
      `Cannot extract model package ${file} ${target === undefined ? 'to a temporary directory' : `into ${target}`}: ${(error as Error).message}. Nothing was left behind. ${cause.advice}.`,
      {
        cause: error,
        retryable: cause.retryable,
        details: {
          path: file,
          ...(target === undefined ? {} : { extractTo: target }),
          ...(cause.errno === undefined ? {} : { errno: cause.errno }),
        },
      },
    );
  }
}

/**
 * Whether `target` holds this same package (a former load, replaced); throws `PHYS_USAGE` unless
 * it holds that, is an empty directory, or does not exist.
 */
async function checkTarget(target: string, manifest: ModelManifest): Promise<boolean> {
  const stats = await lstat(target).catch(() => undefined);
  if (stats === undefined) return false;
  const refuse = (what: string) =>
    new PhysError(
      'PHYS_USAGE',
      `Cannot extract a model package into ${target}: it is ${what}. Give \`extractTo\` a directory that does not exist yet, an empty one, or one this package was loaded into before.`,
      { details: { extractTo: target } },
    );
  if (!stats.isDirectory()) throw refuse('not a directory');
  if ((await readdir(target)).length === 0) return false;
  // The integrity hash covers the whole manifest: equal hashes, the same package.
  const held = await readFile(join(target, 'manifest.json'), 'utf8')
    .then((text) => (JSON.parse(text) as { integrity?: unknown }).integrity)
    .catch(() => undefined);
  if (held !== manifest.integrity) throw refuse('a directory holding something else');
  return true;
}

/**
 * What an error of the file system (its errno, also inside node-tar's errors) says to do, and
 * whether trying again can help. Only the errno's own meaning is given: no guessing.
 */
function fileSystemCause(error: unknown): {
  errno: string | undefined;
  advice: string;
  retryable: boolean;
} {
  const own = (error as { code?: unknown } | undefined)?.code;
  const inner = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const errno = [own, inner].find((c): c is string => typeof c === 'string' && /^E[A-Z]+$/.test(c));
  switch (errno) {
    case 'EACCES':
    case 'EPERM':
      return {
        errno,
        advice: 'Permission was denied: make the directory writable',
        retryable: false,
      };
    case 'EROFS':
      return {
        errno,
        advice: 'The file system is read-only: use a writable directory',
        retryable: false,
      };
    case 'ENOSPC':
    case 'EDQUOT':
      return {
        errno,
        advice: 'The disk (or your quota) is full: free some space',
        retryable: true,
      };
    case 'ENOTDIR':
    case 'EEXIST':
    case 'EISDIR':
      return {
        errno,
        advice: 'A file is in the way of a directory, or a directory of a file: move it',
        retryable: false,
      };
    case 'ENAMETOOLONG':
      return {
        errno,
        advice: 'A path is too long for the file system: use a shorter name or directory',
        retryable: false,
      };
    case 'EMFILE':
    case 'ENFILE':
    case 'EAGAIN':
    case 'EBUSY':
    case 'EIO':
      return { errno, advice: 'The file system was busy or failing: try again', retryable: true };
    default:
      return { errno, advice: 'Check the directory', retryable: false };
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function readManifest(dir: string): Promise<ModelManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ModelManifest;
  } catch {
    return undefined;
  }
}

import { posix } from 'node:path';
import { PhysError } from '@phys/core';

/**
 * Why `path` is not a safe path inside a package, or undefined when it is. A safe path is
 * relative, `/`-separated, and stays inside the package on every platform: no absolute path
 * (`/x`, `C:/x`, `\\server\share`), no `..`, `.` or empty segment, no backslash or `:` (which
 * Windows reads as separators, drives or streams), no control character, and nothing that
 * normalises to something else. Packages written by phys only hold such paths.
 */
export function unsafePathReason(path: string): string | undefined {
  if (path === '') return 'it is empty';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'it contains a control character';
  if (path.startsWith('/')) return 'it is an absolute path';
  if (/^[A-Za-z]:/.test(path)) return 'it starts with a Windows drive';
  if (path.includes('\\')) return 'it contains a backslash, which Windows reads as a separator';
  if (path.includes(':')) return "it contains ':', which Windows reads as a drive or a stream";
  const segments = path.split('/');
  if (segments.includes('..')) return "it has a '..' segment, which leads out of the package";
  if (segments.includes('.')) return "it has a '.' segment";
  if (segments.includes('')) return 'it has an empty segment';
  if (posix.normalize(path) !== path) return 'it changes when normalised';
  return undefined;
}

/** The error code of a package that names a path outside itself. */
export const UNSAFE_PATH_CODE = 'PHYS_PACKAGE_UNSAFE_PATH';

/** What `verify` says of a path of the manifest or of an archive entry that is not safe. */
export function unsafePathMessage(where: 'manifest' | 'archive', path: string, reason: string) {
  return `${where === 'manifest' ? 'the manifest lists' : 'the archive holds'} ${JSON.stringify(path)}, which is not a path inside the package: ${reason}`;
}

/**
 * The error `verifyOrThrow` and `load` throw for a package that names paths outside itself
 * (`unsafe`: what `verify` reported of them); nothing of it was extracted or read.
 */
export function unsafePathError(
  packagePath: string,
  unsafe: readonly { readonly message: string }[],
  problems: readonly unknown[],
): PhysError {
  const listed = unsafe
    .slice(0, 10)
    .map((u) => `  - ${u.message}`)
    .join('\n');
  const more = unsafe.length > 10 ? `\n  ... and ${unsafe.length - 10} more` : '';
  return new PhysError(
    UNSAFE_PATH_CODE,
    `Model package ${packagePath} names ${unsafe.length === 1 ? 'a path' : `${unsafe.length} paths`} outside itself, so it was refused before anything was extracted:\n${listed}${more}\nphys never writes such paths: the package was forged or damaged. Do not use it; re-package the model from its run.`,
    { details: { path: packagePath, problems } },
  );
}

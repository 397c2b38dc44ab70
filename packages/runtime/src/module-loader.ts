import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Jiti } from 'jiti';

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx']);

const instances = new Map<string, Jiti>();

// jiti (the engine of cosmiconfig-typescript-loader) is loaded lazily: runtimes built from
// in-memory configs with plugin objects never pay for its transpiler.
async function jitiFor(parentFile: string): Promise<Jiti> {
  let jiti = instances.get(parentFile);
  if (jiti === undefined) {
    const { createJiti } = await import('jiti');
    jiti = createJiti(parentFile, { interopDefault: false });
    instances.set(parentFile, jiti);
  }
  return jiti;
}

/**
 * Resolves `specifier` the way an `import` written in `parentFile` would (ESM conditions,
 * `exports` maps, extensionless relative `.ts` files). Returns undefined when nothing matches.
 */
export async function resolveFrom(
  parentFile: string,
  specifier: string,
): Promise<string | undefined> {
  const jiti = await jitiFor(parentFile);
  const url = jiti.esmResolve(specifier, { parentURL: pathToFileURL(parentFile), try: true });
  if (url === undefined) return undefined;
  return url.startsWith('file:') ? fileURLToPath(url) : url;
}

/**
 * Imports a module file and returns its namespace. JavaScript goes through Node's own loader, so a
 * package imported here is the same instance the rest of the process sees; TypeScript goes
 * through jiti, which also handles the file's relative `.ts` imports. So does JavaScript whose
 * imports resolve to TypeScript, as in a process started with a source export condition (a test
 * runner in a workspace that maps packages to their `src`). Errors thrown while evaluating the
 * module propagate unchanged (no wrapping that would hide their type or fields).
 */
export async function importModule(file: string): Promise<Record<string, unknown>> {
  if (!TYPESCRIPT.has(extname(file))) {
    try {
      return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (error) {
      // Raised while linking, before any module code ran: retrying through jiti is safe.
      if ((error as { code?: unknown }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    }
  }
  const jiti = await jitiFor(file);
  return (await jiti.import(file)) as Record<string, unknown>;
}

/** Unwraps `default` exports, also a CommonJS module's nested `default`. */
export function unwrapDefault(value: unknown): unknown {
  let current = value;
  for (let depth = 0; depth < 3; depth++) {
    if (
      (typeof current === 'object' || typeof current === 'function') &&
      current !== null &&
      'default' in current &&
      (current as { default?: unknown }).default !== undefined
    ) {
      current = (current as { default: unknown }).default;
    } else {
      break;
    }
  }
  return current;
}

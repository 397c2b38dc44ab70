// The frames of a stack, the user's own first: `--verbose` output leads with the line of the
// stage or config that threw, not with the phys code that called it.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `at ...` lines of a stack, trimmed (the message lines before them are left out). */
export function stackFrames(stack: string): string[] {
  return stack
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '));
}

/** The file of a frame (`at fn (file:///a/b.js:1:2)`, `at /a/b.ts:3:4`), or undefined. */
export function frameFile(frame: string): string | undefined {
  const body = frame.replace(/^at\s+(?:async\s+)?/, '');
  const location = body.endsWith(')') ? body.slice(body.lastIndexOf('(') + 1, -1) : body;
  const path = location.replace(/:\d+(?::\d+)?$/, '');
  if (path.startsWith('file://')) {
    try {
      return fileURLToPath(path);
    } catch {
      return undefined;
    }
  }
  return isAbsolute(path) ? path : undefined;
}

interface OwningPackage {
  readonly root: string;
  /** A published @phys package (its name starts with `@phys/` and it is not private). */
  readonly phys: boolean;
}

const owners = new Map<string, OwningPackage | undefined>();

function owningPackage(dir: string): OwningPackage | undefined {
  if (owners.has(dir)) return owners.get(dir);
  let found: OwningPackage | undefined;
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name?: unknown;
      private?: unknown;
    };
    found = {
      root: dir,
      phys: typeof pkg.name === 'string' && pkg.name.startsWith('@phys/') && pkg.private !== true,
    };
  } catch {
    const parent = dirname(dir);
    found = parent === dir ? undefined : owningPackage(parent);
  }
  owners.set(dir, found);
  return found;
}

/**
 * Whether a frame is phys's or a dependency's rather than the user's: Node's own (`node:`,
 * native), anything under node_modules, and the code (`src/`, `dist/`) of a published @phys
 * package, which in a workspace is linked from outside node_modules.
 */
export function isInternalFrame(frame: string): boolean {
  const file = frameFile(frame);
  if (file === undefined) return true;
  if (file.split(sep).includes('node_modules') || file.split('/').includes('node_modules')) {
    return true;
  }
  const owner = owningPackage(dirname(file));
  if (owner === undefined || !owner.phys) return false;
  const inside = relative(owner.root, file).split(sep)[0];
  return inside === 'src' || inside === 'dist';
}

/** The frames of `stack`: the user's first, then phys's, node_modules' and Node's. */
export function splitFrames(stack: string): { user: string[]; internal: string[] } {
  const user: string[] = [];
  const internal: string[] = [];
  for (const frame of stackFrames(stack)) (isInternalFrame(frame) ? internal : user).push(frame);
  return { user, internal };
}

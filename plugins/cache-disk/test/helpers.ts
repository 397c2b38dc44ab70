import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const fixtures = join(here, 'fixtures');

/**
 * Child processes run plain `node` on the built package (vitest's `@phys/source` condition is
 * not passed on), exactly as another process on the machine would use it.
 */
export function assertBuilt(): void {
  for (const entry of [join(here, '..', 'dist', 'index.js')]) {
    if (!fs.existsSync(entry)) {
      throw new Error(`${entry} is missing: run \`pnpm build\` in plugins/cache-disk first.`);
    }
  }
}

export function spawnNode(script: string, args: readonly string[]): ChildProcess {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return spawn(process.execPath, [join(fixtures, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += String(d);
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += String(d);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

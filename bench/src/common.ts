import { createRequire } from 'node:module';

/** `phys <core version> (node <version>)`. */
export function systemLine(): string {
  const require = createRequire(import.meta.url);
  const { version } = require('@phys/core/package.json') as { version: string };
  return `phys ${version} (node ${process.version})`;
}

/** Progress goes to stderr; stdout carries only the final JSON line. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`bench check failed: ${message}`);
}

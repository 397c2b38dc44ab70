// Running `phys` in this process, as packages/cli/test/helpers.ts does for the CLI's own tests,
// on the fixture projects under test/fixtures.
import { fileURLToPath } from 'node:url';
import { runCli } from '@phys/cli';

/** Absolute path of a fixture project under test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** A stream that keeps what is written to it. */
class Capture {
  text = '';
  readonly columns: number | undefined;
  readonly isTTY: boolean;
  constructor(options: { columns?: number; isTTY?: boolean } = {}) {
    this.columns = options.columns;
    this.isTTY = options.isTTY ?? false;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export interface CliOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process, as the binary would with `argv`, in the project at `cwd`. */
export async function cli(
  argv: readonly string[],
  options: { cwd: string; isTTY?: boolean; signal?: AbortSignal },
): Promise<CliOutcome> {
  const stdout = new Capture();
  const stderr = new Capture({ columns: 100, isTTY: options.isTTY ?? false });
  const code = await runCli(argv, {
    stdout,
    stderr,
    cwd: options.cwd,
    isTTY: options.isTTY ?? false,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

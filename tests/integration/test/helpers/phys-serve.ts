// `phys serve` as a user starts it: the built binary in a child process, on a free loopback
// port, with its own SQLite file. Resolves once the server printed its address.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
/** The `phys` launcher of @phys/cli (it runs the built dist/bin.js). */
export const PHYS_BIN = join(dirname(require.resolve('@phys/cli/package.json')), 'bin', 'phys.js');

export interface ServedProcess {
  /** `http://127.0.0.1:<port>`, as the server printed it. */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM (a graceful stop), then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `phys serve --port 0 --store <store>` in `cwd` and resolves with its URL once it
 * listens; rejects with its output when it exits first.
 */
export function startPhysServe(
  cwd: string,
  store: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Promise<ServedProcess> {
  const child = spawn(process.execPath, [PHYS_BIN, 'serve', '--port', '0', '--store', store], {
    cwd,
    // Without the script runner's NODE_PATH: plugins resolve from the project, as for users.
    env: { ...process.env, NODE_PATH: undefined, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      const url = /phys serve: listening on (http:\/\/\S+)/.exec(err)?.[1];
      if (url !== undefined) {
        resolve({
          url,
          child,
          stderr: () => err,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    void exited.then((code) =>
      reject(new Error(`phys serve exited with ${code} before listening:\n${err}\n${out}`)),
    );
  });
}

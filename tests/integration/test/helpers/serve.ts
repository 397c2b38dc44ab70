// `phys serve` in a child process, as a user starts it: the built launcher of @phys/cli, on a
// free loopback port, ready once it prints its `listening on` line.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const manifest = require.resolve('@phys/cli/package.json');
const launcher = join(dirname(manifest), (require(manifest) as { bin: { phys: string } }).bin.phys);

export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` and resolves with the exit code (null after a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `phys serve --port 0` in `cwd` and resolves once it listens. */
export async function serve(
  cwd: string,
  options: { env?: Record<string, string>; args?: readonly string[] } = {},
): Promise<Served> {
  const child = spawn(
    process.execPath,
    [launcher, 'serve', '--port', '0', ...(options.args ?? [])],
    {
      cwd,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const found = /phys serve: listening on (\S+) \(store /.exec(stderr)?.[1];
      if (found !== undefined) resolve(found);
    });
    child.stdout.resume();
    void exited.then(([code, signal]) =>
      reject(new Error(`phys serve exited (${code ?? signal}) before listening:\n${stderr}`)),
    );
  });
  return {
    url,
    child,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}

/** fetch of `path` under the server's /api/v1, with a bearer token when given. */
export function api(
  server: { readonly url: string },
  path: string,
  init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${server.url}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
}

// `phys serve` as a user starts it: the built launcher of @phys/cli in a child process, on a free
// loopback port, ready once it prints its `listening on` line.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const manifest = require.resolve('@phys/cli/package.json');
const launcher = join(dirname(manifest), (require(manifest) as { bin: { phys: string } }).bin.phys);

export interface Served {
  /** `http://127.0.0.1:<port>`, as the server printed it. */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` (default SIGTERM, a graceful stop) and resolves with the exit code (null after a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ServeOptions {
  /** The SQLite file of the runs (`--store`; default: the server's, under the config's cacheDir). */
  readonly store?: string;
  /** Variables added to (or, when undefined, removed from) the test's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** More arguments of `phys serve`. */
  readonly args?: readonly string[];
}

/**
 * Starts `phys serve --port 0` in `cwd` and resolves once it listens; rejects with its output
 * when it exits first.
 */
export async function serve(cwd: string, options: ServeOptions = {}): Promise<Served> {
  const args = [
    launcher,
    'serve',
    '--port',
    '0',
    ...(options.store === undefined ? [] : ['--store', options.store]),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd,
    // Without the script runner's NODE_PATH: plugins resolve from the project, as for users.
    env: { ...process.env, NODE_PATH: undefined, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const found = /phys serve: listening on (\S+) \(store /.exec(stderr)?.[1];
      if (found !== undefined) resolve(found);
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    void exited.then(([code, signal]) =>
      reject(
        new Error(`phys serve exited (${code ?? signal}) before listening:\n${stderr}\n${stdout}`),
      ),
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

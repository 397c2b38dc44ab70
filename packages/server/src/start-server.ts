import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { ConfigError, formatIssues, PhysError } from '@phys/core';
import {
  LocalOrchestrator,
  type PhysRuntime,
  type RecoveryReport,
  type ScheduleClock,
  ScheduleRunner,
} from '@phys/runtime';
import { buildApp } from './app.js';
import { TokenSet } from './auth.js';
import { zodIssues } from './http-error.js';
import {
  isLoopback,
  type ResolvedServerOptions,
  type ServerOptions,
  serverOptionsSchema,
  TOKENS_ENV,
  tokensFrom,
} from './options.js';
import { SqliteRunStore } from './sqlite-run-store.js';
import { SubmissionStore } from './submission-store.js';

/** The version of this package (`GET /health`). @public */
export const SERVER_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;

/** A listening server, as {@link startServer} returns it. @public */
export interface RunningServer {
  /** `http://HOST:PORT` (https with TLS), with the port actually bound. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The SQLite file of the runs (absolute). */
  readonly storeFile: string;
  /** Whether requests need a bearer token (false only on loopback without tokens). */
  readonly authenticated: boolean;
  /** What the start recovered from the store. */
  readonly recovery: RecoveryReport;
  /** The orchestrator running the submitted runs. */
  readonly orchestrator: LocalOrchestrator;
  /** The run store (closed by {@link RunningServer.close}). */
  readonly store: SqliteRunStore;
  /** The schedules it fires (none fire with the `schedules: false` option). */
  readonly schedules: ScheduleRunner;
  /**
   * Stops: answers 503 on /ready, ends event streams, stops listening, aborts running runs and
   * leaves them RUNNING in the store (the next start resumes them), keeps queued runs QUEUED,
   * and closes the store. Safe to call twice.
   */
  close(): Promise<void>;
}

/** Options of {@link startServer} besides the server's own. @public */
export interface StartServerOptions {
  /** Where `PHYS_SERVER_TOKENS` is read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The schedules' clock and timers (default the process's); tests pass one they move. */
  readonly clock?: ScheduleClock;
  /**
   * Longest wait in ms between two checks of the schedules (default 30,000): how soon a pause or
   * resume made through another server on the same store is seen.
   */
  readonly scheduleCheckMs?: number;
}

function resolveOptions(options: ServerOptions): ResolvedServerOptions {
  const parsed = serverOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `Invalid options of the server plugin:\n${formatIssues(issues)}`,
      { issues },
    );
  }
  return parsed.data;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `The TLS ${what} ${file} cannot be read (${(error as Error).message}). Give the path of a PEM file in tls.${what}, relative to the config's directory.`,
      { issues: [{ path: `tls.${what}`, message: 'cannot be read' }], cause: error },
    );
  }
}

/**
 * Serves `runtime`'s pipelines over the HTTP API v1: opens the SQLite run store, builds a
 * `LocalOrchestrator` over it and the runtime (its executor, cache and scheduler plugins),
 * recovers what a previous process left in the store, and listens.
 *
 * Refuses (`PHYS_SERVER_INSECURE`) a host other than loopback without tokens. Without tokens on
 * loopback the API is open to this machine's users.
 * @public
 */
export async function startServer(
  runtime: PhysRuntime,
  options: ServerOptions = {},
  { env = process.env, clock, scheduleCheckMs }: StartServerOptions = {},
): Promise<RunningServer> {
  const resolved = resolveOptions(options);
  const tokens = tokensFrom(resolved.tokens, env);
  const short = tokens.find((t) => t.length < 16);
  if (short !== undefined) {
    throw new ConfigError(
      'PHYS_CONFIG_INVALID',
      `A token of ${TOKENS_ENV} has fewer than 16 characters. Use long random tokens, e.g. \`openssl rand -hex 32\`.`,
      { issues: [{ path: TOKENS_ENV, message: 'a token needs at least 16 characters' }] },
    );
  }
  if (tokens.length === 0 && !isLoopback(resolved.host)) {
    throw new PhysError(
      'PHYS_SERVER_INSECURE',
      `Refusing to listen on ${resolved.host} without tokens: anyone who reaches that address could run pipelines. Set ${TOKENS_ENV} (comma-separated tokens, e.g. from \`openssl rand -hex 32\`) or the tokens option, or listen on 127.0.0.1 behind a reverse proxy.`,
      { details: { host: resolved.host } },
    );
  }
  const https =
    resolved.tls === undefined
      ? undefined
      : {
          cert: readPem(resolve(runtime.configDir, resolved.tls.cert), 'cert'),
          key: readPem(resolve(runtime.configDir, resolved.tls.key), 'key'),
        };
  const storeFile =
    resolved.store === undefined
      ? resolve(runtime.cacheDir, 'server.sqlite')
      : resolve(runtime.configDir, resolved.store);
  const logger = runtime.logger.child({ component: 'server' });
  const store = new SqliteRunStore(storeFile, {
    synchronous: resolved.synchronous,
    logger: logger.child({ component: 'run-store' }),
  });
  const submissions = new SubmissionStore(store);
  let orchestrator: LocalOrchestrator | undefined;
  let schedules: ScheduleRunner | undefined;
  try {
    orchestrator = new LocalOrchestrator(runtime, {
      store: submissions,
      maxConcurrentRuns: resolved.maxConcurrentRuns,
      ...(resolved.retryPolicy === undefined ? {} : { retryPolicy: resolved.retryPolicy }),
      logger,
    });
    const recovery = await orchestrator.recover();
    schedules = new ScheduleRunner({
      schedules: runtime.schedules,
      store,
      orchestrator,
      logger: logger.child({ component: 'schedules' }),
      ...(clock === undefined ? {} : { clock }),
      ...(scheduleCheckMs === undefined ? {} : { maxSleepMs: scheduleCheckMs }),
    });
    const app = buildApp({
      orchestrator,
      store,
      submissions,
      pipelines: runtime.pipelines,
      schedules,
      tokens: new TokenSet(tokens),
      bodyLimit: resolved.bodyLimit,
      cors: resolved.cors,
      https,
      logger,
      version: SERVER_VERSION,
    });
    try {
      await app.fastify.listen({ host: resolved.host, port: resolved.port });
    } catch (error) {
      await app.fastify.close();
      const code = (error as { code?: string }).code;
      throw new PhysError(
        'PHYS_SERVER_LISTEN',
        `Cannot listen on ${resolved.host}:${resolved.port} (${code ?? (error as Error).message}). ${code === 'EADDRINUSE' ? 'Another program uses that port: choose another with --port (0 picks a free one).' : 'Check the host and port.'}`,
        { cause: error, details: { host: resolved.host, port: resolved.port } },
      );
    }
    if (resolved.schedules) await schedules.start();
    app.setReady(true);
    const address = app.fastify.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : resolved.port;
    const hostInUrl = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
    const url = `${https === undefined ? 'http' : 'https'}://${hostInUrl}:${port}`;
    const running = orchestrator;
    const firing = schedules;
    let closed: Promise<void> | undefined;
    return {
      url,
      host: resolved.host,
      port,
      storeFile,
      authenticated: tokens.length > 0,
      recovery,
      orchestrator: running,
      store,
      schedules: firing,
      close() {
        closed ??= (async () => {
          await firing.stop();
          app.setReady(false);
          app.endStreams();
          await Promise.all([app.fastify.close(), running.close()]);
          await store.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    await schedules?.stop();
    await orchestrator?.close().catch(() => {});
    await store.close().catch(() => {});
    throw error;
  }
}

// `phys serve`: loaded by the CLI only when the command runs.
import { type CliCommandHandler, UsageError } from '@phys/core';
import { isPhysRuntime } from '@phys/runtime';
import type { ResolvedServerOptions, ServerOptions } from '../options.js';
import { startServer } from '../start-server.js';

function whole(value: unknown, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || String(value).trim() === '') {
    throw new UsageError(`${flag} takes a whole number ≥ ${min}, got '${String(value)}'.`);
  }
  return n;
}

/** Serves until the CLI's signal aborts (SIGINT, SIGTERM), then shuts down gracefully. */
const serve: CliCommandHandler = async (ctx) => {
  const { runtime } = ctx;
  if (!isPhysRuntime(runtime)) {
    throw new UsageError(
      '`phys serve` needs the runtime of the phys CLI (@phys/runtime); this host passed another. Run it with the `phys` command.',
    );
  }
  const configured = runtime.plugins.find((p) => p.name === 'server')?.options as
    | ResolvedServerOptions
    | undefined;
  const { host, port, store, maxConcurrentRuns } = ctx.options as Record<
    string,
    string | undefined
  >;
  const options: ServerOptions = {
    ...configured,
    ...(host === undefined ? {} : { host }),
    ...(port === undefined ? {} : { port: whole(port, '--port', 0) as number }),
    ...(store === undefined ? {} : { store }),
    ...(maxConcurrentRuns === undefined
      ? {}
      : { maxConcurrentRuns: whole(maxConcurrentRuns, '--max-concurrent-runs', 1) as number }),
  };
  if (ctx.signal.aborted) return 130;
  const server = await startServer(runtime, options);
  const { recovery } = server;
  if (recovery.resumed.length + recovery.failed.length + recovery.queued.length > 0) {
    ctx.err(
      `phys serve: recovered ${recovery.resumed.length} running run(s) as a new attempt, ${recovery.failed.length} failed (PHYS_SERVER_RESTARTED), ${recovery.queued.length} queued`,
    );
  }
  if (!server.authenticated) {
    ctx.err(
      'phys serve: no tokens configured: anyone on this machine can use the API (set PHYS_SERVER_TOKENS to require one)',
    );
  }
  ctx.err(`phys serve: listening on ${server.url} (store ${server.storeFile})`);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  ctx.err('phys serve: stopping (running runs resume on the next start)');
  await server.close();
  ctx.err('phys serve: stopped');
  return 0;
};

export default serve;

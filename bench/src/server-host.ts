// The serving side of the `server` workload, in a process of its own (forked by server.ts), as
// `phys serve` runs in production: the clients that load it, and the orchestrators compared with
// it, are in the parent. Commanded over the IPC channel, one command at a time:
//   { type: 'phys', store }  start @phys/server's startServer on a fresh SQLite store → { url }
//   { type: 'bare', file }   start the bare Fastify route that inserts one row → { url }
//   { type: 'counts' }       runs by status in the store of the running phys server → { counts }
//   { type: 'close' }        close what runs, with its event-loop delay while serving → { loop }
// The process stays up between commands, so that a measured round finds it warm.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type RunningServer, startServer } from '@phys/server/node';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { SERVER_TOKEN as TOKEN, trivialRuntime } from './server-runtime.js';

/** What the bench process asks of this one (see the top of the file). */
export type Command =
  | { readonly type: 'phys'; readonly store: string; readonly configDir: string }
  | { readonly type: 'bare'; readonly file: string }
  | { readonly type: 'counts' }
  | { readonly type: 'close' };

/** The event-loop delay of the serving process while it served, in ms. */
export interface LoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

interface Serving {
  readonly url: string;
  close(): Promise<void>;
  counts?(): Promise<Record<string, number>>;
}

/** The bare route: Fastify, one INSERT per request into a SQLite file in WAL, synchronous FULL. */
async function bare(file: string): Promise<Serving> {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE runs (id INTEGER PRIMARY KEY, job_id TEXT NOT NULL UNIQUE, record TEXT)');
  const insert = db.prepare('INSERT INTO runs (job_id, record) VALUES (?, ?)');
  const app = Fastify({ logger: false });
  app.post('/insert', async (request, reply) => {
    const body = request.body as { runId: string };
    insert.run(body.runId, JSON.stringify(body));
    return reply.code(201).send({ jobId: body.runId, status: 'QUEUED' });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/insert`,
    close: async () => {
      await app.close();
      db.close();
    },
  };
}

async function phys(store: string, configDir: string): Promise<Serving> {
  const runtime = await trivialRuntime(configDir);
  let server: RunningServer;
  try {
    server = await startServer(runtime, { port: 0, tokens: [TOKEN], store }, { env: {} });
  } catch (error) {
    await runtime.dispose();
    throw error;
  }
  return {
    url: server.url,
    counts: async () => ({ ...(await server.store.counts()) }),
    close: async () => {
      await server.close();
      await runtime.dispose();
    },
  };
}

let serving: Serving | undefined;
const loop = monitorEventLoopDelay({ resolution: 1 });

async function handle(command: Command): Promise<unknown> {
  switch (command.type) {
    case 'phys':
    case 'bare': {
      if (serving !== undefined) throw new Error('server-host: already serving');
      serving =
        command.type === 'phys'
          ? await phys(command.store, command.configDir)
          : await bare(command.file);
      loop.reset();
      loop.enable();
      return { url: serving.url };
    }
    case 'counts': {
      if (serving?.counts === undefined) throw new Error('server-host: no phys server running');
      return { counts: await serving.counts() };
    }
    case 'close': {
      loop.disable();
      const delay: LoopDelay = {
        p50: loop.percentile(50) / 1e6,
        p99: loop.percentile(99) / 1e6,
        max: loop.max / 1e6,
      };
      await serving?.close();
      serving = undefined;
      return { loop: delay };
    }
  }
}

process.on('message', (command: Command) => {
  handle(command).then(
    (reply) => process.send?.({ ok: true, reply }),
    (error: unknown) =>
      process.send?.({ ok: false, error: error instanceof Error ? error.stack : String(error) }),
  );
});
// The parent going away ends this process too.
process.on('disconnect', () => {
  void serving?.close().finally(() => process.exit(0));
  if (serving === undefined) process.exit(0);
});

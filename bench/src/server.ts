// The `server` workload: trivial runs submitted over HTTP to `startServer` of @phys/server by
// concurrent clients, against a fresh SQLite store; beside it, in the same process and minute,
// the ceiling of this machine: the same clients against a bare Fastify route that inserts one
// row into a SQLite file with the same pragmas. Then one one-node run through the remote
// orchestrator against the same run through a local one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { silentLogger } from '@phys/core';
import { RemoteOrchestrator } from '@phys/orchestrator-remote';
import { createRuntime, LocalOrchestrator, type PhysRuntime } from '@phys/runtime';
import { type RunningServer, SqliteRunStore, startServer } from '@phys/server/node';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { check, progress, round } from './common.js';
import { Add } from './stages.js';

const TOKEN = 'bench-token-0123456789abcdef0123';
const CLIENTS = 16;

interface Load {
  readonly requests: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * `total` POSTs of `body(i)` to `url` by `clients` concurrent clients (each one request at a
 * time, keep-alive connections), with every request's latency.
 */
async function drive(
  url: string,
  total: number,
  clients: number,
  body: (i: number) => unknown,
  expected: number,
): Promise<Load> {
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = next++; i < total; i = next++) {
        const start = performance.now();
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body(i)),
        });
        await res.arrayBuffer();
        latencies.push(performance.now() - start);
        if (res.status !== expected) {
          throw new Error(`server: POST ${url} answered ${res.status}, expected ${expected}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: total,
    seconds,
    perSecond: total / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

/** The bare route: Fastify, one INSERT per request into a SQLite file in WAL, synchronous FULL. */
async function ceiling(dir: string, total: number): Promise<Load> {
  const db = new Database(join(dir, `ceiling-${total}.sqlite`));
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
  try {
    return await drive(
      `http://127.0.0.1:${address.port}/insert`,
      total,
      CLIENTS,
      (i) => ({ pipeline: 'trivial', runId: `c-${i}` }),
      201,
    );
  } finally {
    await app.close();
    db.close();
  }
}

/** 2,000 (scaled) submissions to a fresh server, then the wait until every run completed. */
async function submissions(
  runtime: PhysRuntime,
  dir: string,
  total: number,
): Promise<{ load: Load; runsPerSecond: number }> {
  const server = await startServer(
    runtime,
    { port: 0, tokens: [TOKEN], store: join(dir, `server-${total}.sqlite`) },
    { env: {} },
  );
  const loop = monitorEventLoopDelay({ resolution: 1 });
  try {
    loop.enable();
    const t0 = performance.now();
    const load = await drive(
      `${server.url}/api/v1/runs`,
      total,
      CLIENTS,
      (i) => ({ pipeline: 'trivial', runId: `r-${i}` }),
      201,
    );
    for (;;) {
      const counts = await server.store.counts();
      if (counts.COMPLETED + counts.FAILED + counts.CANCELLED + counts.TIMEOUT === total) {
        check(counts.COMPLETED === total, `server: ${JSON.stringify(counts)}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const runsPerSecond = total / ((performance.now() - t0) / 1000);
    loop.disable();
    progress(
      `server: event-loop delay while serving ${total} runs: p50 ${round(loop.percentile(50) / 1e6, 1)} ms, p99 ${round(loop.percentile(99) / 1e6, 1)} ms, max ${round(loop.max / 1e6, 1)} ms`,
    );
    return { load, runsPerSecond };
  } finally {
    await server.close();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] as number;
}

interface OneNode {
  /** A LocalOrchestrator with its default store (memory), as `runtime.orchestrator` has. */
  readonly localMs: number;
  /** A LocalOrchestrator over a SqliteRunStore with the server's settings. */
  readonly localSqliteMs: number;
  readonly remoteMs: number;
}

/**
 * One one-node run, submitted and waited for, `rounds` times each way (taking turns): locally
 * in memory, locally over a durable store like the server's, and through the remote
 * orchestrator against the server.
 */
async function remoteVsLocal(
  runtime: PhysRuntime,
  server: RunningServer,
  storeFile: string,
  rounds: number,
): Promise<OneNode> {
  const local = new LocalOrchestrator(runtime, { logger: silentLogger });
  const localSqlite = new LocalOrchestrator(runtime, {
    logger: silentLogger,
    store: new SqliteRunStore(storeFile),
  });
  const remote = new RemoteOrchestrator({ url: server.url, token: TOKEN });
  const once = async (orchestrator: LocalOrchestrator | RemoteOrchestrator): Promise<number> => {
    const t0 = performance.now();
    const submission = await orchestrator.runPipeline('trivial');
    const done = await submission.waitForCompletion({ timeout: 60, pollInterval: 0.05 });
    const ms = performance.now() - t0;
    check(done.status === 'COMPLETED', `server: a one-node run ended ${done.status}`);
    return ms;
  };
  const times = { local: [] as number[], localSqlite: [] as number[], remote: [] as number[] };
  try {
    for (let k = 0; k < rounds + 3; k++) {
      const l = await once(local);
      const s = await once(localSqlite);
      const r = await once(remote);
      // The first rounds warm every path up.
      if (k >= 3) {
        times.local.push(l);
        times.localSqlite.push(s);
        times.remote.push(r);
      }
    }
  } finally {
    await local.close();
    await localSqlite.close();
    await localSqlite.store.close();
  }
  return {
    localMs: median(times.local),
    localSqliteMs: median(times.localSqlite),
    remoteMs: median(times.remote),
  };
}

export async function runServer(scale: number): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'phys-bench-server-'));
  const runtime = await createRuntime(
    {
      config: {
        stages: [Add],
        pipelines: {
          trivial: { stages: [Add({ amount: 1 })], initialState: { payload: 0 } },
        },
      },
      configDir: dir,
    },
    { logger: silentLogger },
  );
  try {
    const total = Math.max(16, Math.round(2000 * scale));
    progress('server: warm-up');
    await ceiling(dir, Math.round(total / 10));
    await submissions(runtime, dir, Math.round(total / 10));
    progress(`server: ceiling, ${total} inserts by ${CLIENTS} clients on a bare Fastify route`);
    const bare = await ceiling(dir, total);
    progress(`server: ${total} submissions by ${CLIENTS} clients to phys serve`);
    const { load, runsPerSecond } = await submissions(runtime, dir, total);
    const share = load.perSecond / bare.perSecond;
    progress(
      `server: ${round(load.perSecond, 0)} submissions/s (${round(share * 100, 1)}% of the ceiling's ${round(bare.perSecond, 0)}/s; target ≥ 50%), p50 ${round(load.p50Ms, 2)} ms, p99 ${round(load.p99Ms, 2)} ms (target ≤ 25), ${round(runsPerSecond, 0)} runs/s completed`,
    );
    const server = await startServer(
      runtime,
      { port: 0, tokens: [TOKEN], store: join(dir, 'one-node.sqlite') },
      { env: {} },
    );
    let pair: OneNode;
    try {
      progress('server: one-node run, remote orchestrator vs local, 20 rounds');
      pair = await remoteVsLocal(runtime, server, join(dir, 'local.sqlite'), 20);
    } finally {
      await server.close();
    }
    const overhead = pair.remoteMs - pair.localMs;
    const overSqlite = pair.remoteMs - pair.localSqliteMs;
    progress(
      `server: one-node run ${round(pair.localMs, 2)} ms local (memory store), ${round(pair.localSqliteMs, 2)} ms local over a SqliteRunStore like the server's, ${round(pair.remoteMs, 2)} ms remote: ${round(overhead, 2)} ms over the memory one, ${round(overSqlite, 2)} ms over the durable one (target ≤ 10)`,
    );
    return {
      runs: total,
      clients: CLIENTS,
      submissions_per_s: round(load.perSecond, 1),
      p50_submit_ms: round(load.p50Ms, 3),
      p99_submit_ms: round(load.p99Ms, 3),
      runs_completed_per_s: round(runsPerSecond, 1),
      ceiling_inserts_per_s: round(bare.perSecond, 1),
      ceiling_p50_ms: round(bare.p50Ms, 3),
      ceiling_p99_ms: round(bare.p99Ms, 3),
      share_of_ceiling: round(share, 3),
      one_node_local_ms: round(pair.localMs, 3),
      one_node_local_sqlite_ms: round(pair.localSqliteMs, 3),
      one_node_remote_ms: round(pair.remoteMs, 3),
      remote_overhead_ms: round(overhead, 3),
      remote_over_local_sqlite_ms: round(overSqlite, 3),
    };
  } finally {
    await runtime.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

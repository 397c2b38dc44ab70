// The `server` workload: trivial runs submitted over HTTP to `startServer` of @phys/server by
// concurrent clients, against a fresh SQLite store; beside it, in the same minute and with the
// same clients, the ceiling of this machine: a bare Fastify route that inserts one row into a
// SQLite file with the same pragmas. Each serves from a process of its own (server-host.ts), as
// `phys serve` does, so that the clients' work does not run on the server's event loop. Then one
// one-node run through the remote orchestrator against the same run through a local one.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '@phys/core';
import { RemoteOrchestrator } from '@phys/orchestrator-remote';
import { LocalOrchestrator, type PhysRuntime } from '@phys/runtime';
import { SqliteRunStore } from '@phys/server/node';
import { check, progress, round } from './common.js';
import type { Command, LoopDelay } from './server-host.js';
import { SERVER_TOKEN as TOKEN, trivialRuntime } from './server-runtime.js';

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
 * One POST of `body` on `agent`'s keep-alive connections: the status and the response body.
 * node:http, not fetch: on two cores, 16 fetch clients alone put a p99 of 22–34 ms on a route
 * that does nothing (undici's fetch spends far more per request on the client than the server
 * does), which would measure the clients instead of the server; node:http's is 5–12 ms.
 */
function post(agent: Agent, url: URL, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `total` POSTs of `body(i)` to `url` by `clients` concurrent clients (each one request at a
 * time, on a keep-alive connection of its own), with every request's latency.
 */
async function drive(
  url: string,
  total: number,
  clients: number,
  body: (i: number) => unknown,
  expected: number,
): Promise<Load> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const target = new URL(url);
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  try {
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = next++; i < total; i = next++) {
          const start = performance.now();
          const res = await post(agent, target, JSON.stringify(body(i)));
          latencies.push(performance.now() - start);
          if (res.status !== expected) {
            throw new Error(
              `server: POST ${url} answered ${res.status}, expected ${expected}: ${res.text}`,
            );
          }
        }
      }),
    );
  } finally {
    agent.destroy();
  }
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

/**
 * The serving process (server-host.ts), driven one command at a time over its IPC channel.
 */
class Host {
  readonly #child = fork(fileURLToPath(new URL('./server-host.js', import.meta.url)), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });

  request<T>(command: Command): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`server: the serving process exited (${code}) during ${command.type}`));
      this.#child.once('exit', onExit);
      this.#child.once('message', (message: { ok: boolean; reply?: T; error?: string }) => {
        this.#child.off('exit', onExit);
        if (message.ok) resolve(message.reply as T);
        else
          reject(
            new Error(`server: ${command.type} failed in the serving process: ${message.error}`),
          );
      });
      this.#child.send(command);
    });
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.disconnect();
    await exited;
  }
}

/** The bare route in the serving process: `total` inserts by the clients. */
async function ceiling(host: Host, dir: string, total: number): Promise<Load> {
  const { url } = await host.request<{ url: string }>({
    type: 'bare',
    file: join(dir, `ceiling-${total}.sqlite`),
  });
  try {
    return await drive(url, total, CLIENTS, (i) => ({ pipeline: 'trivial', runId: `c-${i}` }), 201);
  } finally {
    await host.request({ type: 'close' });
  }
}

/** 2,000 (scaled) submissions to a fresh server, then the wait until every run completed. */
async function submissions(
  host: Host,
  dir: string,
  total: number,
): Promise<{ load: Load; runsPerSecond: number }> {
  const { url } = await host.request<{ url: string }>({
    type: 'phys',
    store: join(dir, `server-${total}.sqlite`),
    configDir: dir,
  });
  let closed = false;
  try {
    const t0 = performance.now();
    const load = await drive(
      `${url}/api/v1/runs`,
      total,
      CLIENTS,
      (i) => ({ pipeline: 'trivial', runId: `r-${i}` }),
      201,
    );
    for (;;) {
      const { counts } = await host.request<{ counts: Record<string, number> }>({ type: 'counts' });
      const ended = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].reduce(
        (sum, s) => sum + (counts[s] ?? 0),
        0,
      );
      if (ended === total) {
        check(counts.COMPLETED === total, `server: ${JSON.stringify(counts)}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const runsPerSecond = total / ((performance.now() - t0) / 1000);
    closed = true;
    const { loop } = await host.request<{ loop: LoopDelay }>({ type: 'close' });
    progress(
      `server: event-loop delay of the server while serving ${total} runs: p50 ${round(loop.p50, 1)} ms, p99 ${round(loop.p99, 1)} ms, max ${round(loop.max, 1)} ms`,
    );
    return { load, runsPerSecond };
  } finally {
    if (!closed) await host.request({ type: 'close' }).catch(() => undefined);
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
  serverUrl: string,
  storeFile: string,
  rounds: number,
): Promise<OneNode> {
  const local = new LocalOrchestrator(runtime, { logger: silentLogger });
  const localSqlite = new LocalOrchestrator(runtime, {
    logger: silentLogger,
    store: new SqliteRunStore(storeFile),
  });
  const remote = new RemoteOrchestrator({ url: serverUrl, token: TOKEN });
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
  const runtime = await trivialRuntime(dir);
  const host = new Host();
  try {
    const total = Math.max(16, Math.round(2000 * scale));
    progress('server: warm-up');
    await ceiling(host, dir, Math.round(total / 10));
    await submissions(host, dir, Math.round(total / 10));
    progress(`server: ceiling, ${total} inserts by ${CLIENTS} clients on a bare Fastify route`);
    const bare = await ceiling(host, dir, total);
    progress(`server: ${total} submissions by ${CLIENTS} clients to phys serve`);
    const { load, runsPerSecond } = await submissions(host, dir, total);
    const share = load.perSecond / bare.perSecond;
    progress(
      `server: ${round(load.perSecond, 0)} submissions/s (${round(share * 100, 1)}% of the ceiling's ${round(bare.perSecond, 0)}/s; target ≥ 50%), p50 ${round(load.p50Ms, 2)} ms, p99 ${round(load.p99Ms, 2)} ms (target ≤ 25; the ceiling's p50 ${round(bare.p50Ms, 2)} ms, p99 ${round(bare.p99Ms, 2)} ms), ${round(runsPerSecond, 0)} runs/s completed`,
    );
    const { url } = await host.request<{ url: string }>({
      type: 'phys',
      store: join(dir, 'one-node.sqlite'),
      configDir: dir,
    });
    let pair: OneNode;
    try {
      progress('server: one-node run, remote orchestrator vs local, 20 rounds');
      pair = await remoteVsLocal(runtime, url, join(dir, 'local.sqlite'), 20);
    } finally {
      await host.request({ type: 'close' });
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
    await host.stop();
    await runtime.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

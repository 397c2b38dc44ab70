// `phys serve` (@phys/server) in a child process over executor-dag and cache-disk, with a real
// SQLite file: crash recovery, idempotent submissions under load, auth on every route, request
// validation, and cancelling a DAG whose node blocks a worker thread.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from './helpers/cli.js';
import { api, type Served, serve } from './helpers/serve.js';

const TOKEN = 'integration-token-0123456789abcdef';

interface Run {
  jobId: string;
  status: string;
  attempt: number;
  nodes?: Record<string, { status: string }>;
  error?: { code: string };
}

/** Reads the run's event stream until the server ends it (after the terminal status). */
async function untilTerminal(server: Served, id: string): Promise<Run> {
  const stream = await api(server, `/runs/${id}/events`, { token: TOKEN });
  expect(stream.status).toBe(200);
  await stream.text();
  return (await (await api(server, `/runs/${id}`, { token: TOKEN })).json()) as Run;
}

const lines = (file: string): string[] =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];

describe('phys serve', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'phys-serve-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resumes a DAG after kill -9 without recomputing a finished node', async () => {
    const env = { PHYS_TEST_SERVER_DIR: join(dir, 'crash'), PHYS_SERVER_TOKENS: TOKEN };
    const log = join(dir, 'crash.log');
    const marker = join(dir, 'crash.marker');
    const gate = join(dir, 'crash.gate');
    const first = await serve(fixture('server'), { env });
    let second: Served | undefined;
    try {
      const submitted = await api(first, '/runs', {
        method: 'POST',
        token: TOKEN,
        body: {
          pipeline: 'chain',
          runId: 'crash-1',
          params: { log, marker, gate },
          retryPolicy: { maxAttempts: 2, initialDelaySeconds: 0 },
        },
      });
      expect(submitted.status).toBe(201);
      // a and b are done (and cached) once the gate node has started.
      await expect.poll(() => existsSync(marker), { timeout: 30_000, interval: 50 }).toBe(true);
      const running = (await (await api(first, '/runs/crash-1', { token: TOKEN })).json()) as Run;
      expect(running).toMatchObject({ status: 'RUNNING', attempt: 1 });
      expect(lines(log)).toEqual(['a', 'b', 'gate']);

      first.child.kill('SIGKILL');
      expect(await first.stop()).toBeNull();
      await writeFile(gate, 'open\n');

      second = await serve(fixture('server'), { env });
      expect(second.stderr()).toMatch(/recovered 1 running run\(s\) as a new attempt/);
      const done = await untilTerminal(second, 'crash-1');
      expect(done).toMatchObject({ status: 'COMPLETED', attempt: 2 });
      // a and b came back from the cache; only the node that was running ran again.
      expect(lines(log)).toEqual(['a', 'b', 'gate', 'gate']);
      expect(done.nodes?.a?.status).toBe('CACHED');
      expect(done.nodes?.b?.status).toBe('CACHED');
      const events = (await (await api(second, '/runs/crash-1/events', { token: TOKEN })).text())
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => JSON.parse(l.slice(6)) as { type: string; status: string; attempt: number });
      expect(
        events.filter((e) => e.type === 'status').map((e) => `${e.status}:${e.attempt}`),
      ).toEqual(['QUEUED:0', 'RUNNING:1', 'RUNNING:2', 'COMPLETED:2']);
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
    }
  });

  it('says it stops the server on SIGTERM or Ctrl-C, not that it cancels a run, and exits 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const served = await serve(fixture('server'), {
        env: { PHYS_TEST_SERVER_DIR: join(dir, `stop-${signal}`) },
      });
      expect(await served.stop(signal)).toBe(0);
      const again = signal === 'SIGINT' ? 'press Ctrl-C' : 'send it';
      expect(served.stderr()).toContain(
        `${signal}: stopping the server (${again} again to stop at once).`,
      );
      expect(served.stderr()).not.toContain('cancelling the run');
      expect(served.stderr()).toMatch(/phys serve: stopped\n$/);
    }
  });

  describe('one server with tokens', () => {
    let server: Served;
    beforeAll(async () => {
      server = await serve(fixture('server'), {
        env: { PHYS_TEST_SERVER_DIR: join(dir, 'shared'), PHYS_SERVER_TOKENS: TOKEN },
      });
    });
    afterAll(async () => {
      expect(await server?.stop('SIGTERM')).toBe(0);
      expect(server.stderr()).toMatch(/phys serve: stopped/);
    });

    it('answers 401 without a valid token on every route of its OpenAPI document but health', async () => {
      const doc = (await (await api(server, '/openapi.json', { token: TOKEN })).json()) as {
        paths: Record<string, Record<string, unknown>>;
      };
      let checked = 0;
      for (const [path, methods] of Object.entries(doc.paths)) {
        for (const method of Object.keys(methods)) {
          for (const token of [undefined, `${TOKEN}x`, TOKEN.slice(1)]) {
            const res = await api(server, path.replace('{id}', 'any-run'), {
              method: method.toUpperCase(),
              ...(token === undefined ? {} : { token }),
            });
            if (path === '/health') {
              expect(res.status).toBe(200);
              continue;
            }
            checked++;
            expect(res.status, `${method.toUpperCase()} ${path}`).toBe(401);
            expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
            expect(await res.json()).toMatchObject({ error: { code: 'PHYS_UNAUTHORIZED' } });
          }
        }
      }
      // Every route of the API but health: ready, openapi, pipelines, runs (2), run, cancel, events,
      // logs; schedules (list, one, pause, resume, trigger); the dashboard's pipeline graph and
      // change stream.
      expect(checked).toBe(16 * 3);
      // The tokens never reach the log.
      expect(server.stderr()).not.toContain(TOKEN.slice(1));
    });

    it('answers 400 naming the path of every issue of a malformed body', async () => {
      const res = await api(server, '/runs', {
        method: 'POST',
        token: TOKEN,
        body: {
          pipeline: 'quick',
          params: { beta: 1 },
          priority: 'high',
          retryPolicy: { maxAttempts: 2, jitter: 'yes' },
        },
      });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as {
        error: { code: string; message: string; issues: { path: string; message: string }[] };
      };
      expect(error.code).toBe('PHYS_REQUEST_INVALID');
      expect(error.issues.map((i) => i.path).sort()).toEqual(['priority', 'retryPolicy.jitter']);
      expect(error.message).toMatch(/priority/);
      const empty = await api(server, '/runs', { method: 'POST', token: TOKEN, body: '[]' });
      expect(empty.status).toBe(400);
      expect(await empty.json()).toMatchObject({ error: { issues: [{ path: '' }] } });
    });

    it('creates no duplicates when 50 clients submit the same idempotency keys at once', async () => {
      const keys = Array.from({ length: 10 }, (_, i) => `idem-${i}`);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, client) =>
          Promise.all(
            keys.map(async (_, k) => {
              // Each client goes through the keys in its own order.
              const key = keys[(k + client) % keys.length] as string;
              const res = await api(server, '/runs', {
                method: 'POST',
                token: TOKEN,
                headers: { 'idempotency-key': key },
                body: { pipeline: 'quick', params: { log: join(dir, `${key}.log`) } },
              });
              return { key, status: res.status, run: (await res.json()) as Run };
            }),
          ),
        ),
      ).then((all) => all.flat());
      expect(answers).toHaveLength(500);
      for (const key of keys) {
        const mine = answers.filter((a) => a.key === key);
        expect(
          mine.filter((a) => a.status === 201),
          key,
        ).toHaveLength(1);
        expect(mine.filter((a) => a.status === 200)).toHaveLength(49);
        expect(new Set(mine.map((a) => a.run.jobId))).toEqual(new Set([key]));
      }
      const listed = (await (
        await api(server, '/runs?pipeline=quick&limit=500', { token: TOKEN })
      ).json()) as { runs: Run[] };
      expect(listed.runs.map((r) => r.jobId).sort()).toEqual([...keys].sort());
      for (const key of keys) {
        expect((await untilTerminal(server, key)).status).toBe('COMPLETED');
        // Each run executed its node once.
        expect(lines(join(dir, `${key}.log`))).toEqual(['one']);
      }
    });

    it('cancels a running DAG whose node blocks a worker thread: CANCELLED', async () => {
      const marker = join(dir, 'cancel.marker');
      const log = join(dir, 'cancel.log');
      const submitted = await api(server, '/runs', {
        method: 'POST',
        token: TOKEN,
        body: { pipeline: 'chain', runId: 'cancel-1', params: { log, marker } },
      });
      expect(submitted.status).toBe(201);
      await expect.poll(() => existsSync(marker), { timeout: 30_000, interval: 50 }).toBe(true);
      const res = await api(server, '/runs/cancel-1/cancel', { method: 'POST', token: TOKEN });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { cancelled: boolean; run: Run };
      expect(body.cancelled).toBe(true);
      expect(body.run).toMatchObject({ status: 'CANCELLED', error: { code: 'PHYS_CANCELLED' } });
      expect(body.run.nodes?.gate?.status).toBe('CANCELLED');
      // The server goes on: the next run completes.
      await api(server, '/runs', {
        method: 'POST',
        token: TOKEN,
        body: { pipeline: 'quick', runId: 'after-cancel' },
      });
      expect((await untilTerminal(server, 'after-cancel')).status).toBe('COMPLETED');
    });
  });
});

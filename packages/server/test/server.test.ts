// The HTTP API of startServer over a real runtime, a real SQLite file and a real socket; the
// pipelines are sequential ones (no executor plugin needed). The crash-recovery, DAG-cancel and
// many-clients tests run `phys serve` in a child process, in tests/integration.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PhysRuntime } from '@phys/runtime';
import {
  createTestRuntime,
  orchestratorConformancePipelines,
  orchestratorConformanceStages,
} from '@phys/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../src/start-server.js';

const TOKEN = 'test-token-0123456789abcdef';
let dir: string;
let runtime: PhysRuntime;
let server: RunningServer;

const { 'conformance-quick': quick, 'conformance-fail': fail } = orchestratorConformancePipelines();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-server-'));
  runtime = await createTestRuntime({
    configDir: dir,
    stages: orchestratorConformanceStages,
    pipelines: { quick: quick as never, fail: fail as never },
  });
  server = await startServer(
    runtime,
    { port: 0, tokens: [TOKEN], store: join(dir, 'runs.sqlite'), bodyLimit: 4096 },
    { env: {} },
  );
});

afterAll(async () => {
  await server?.close();
  await runtime?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
  const { token = TOKEN, headers, ...rest } = init;
  return fetch(`${server.url}/api/v1${path}`, {
    ...rest,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(rest.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(headers as Record<string, string> | undefined),
    },
  });
};
const submit = (body: unknown, headers: Record<string, string> = {}) =>
  api('/runs', { method: 'POST', body: JSON.stringify(body), headers });

/** The frames of an event stream, until the server ends it. */
async function readEvents(path: string, headers: Record<string, string> = {}) {
  const res = await api(path, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('id: '))
    .map((block) => {
      const [id, event, data] = block.split('\n');
      return {
        id: Number(id?.slice(4)),
        event: event?.slice(7),
        data: JSON.parse(data?.slice(6) ?? '') as Record<string, unknown>,
      };
    });
}

async function waitTerminal(id: string): Promise<Record<string, unknown>> {
  // The event stream ends after the terminal status event.
  await readEvents(`/runs/${id}/events`);
  return (await (await api(`/runs/${id}`)).json()) as Record<string, unknown>;
}

describe('the HTTP API', () => {
  it('answers health without a token, with the package version', async () => {
    const res = await api('/health', { token: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: expect.any(String) });
  });

  it('answers 401 with WWW-Authenticate on every other route of its OpenAPI document', async () => {
    const doc = (await (await api('/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ path: path.replace('{id}', 'some-run'), method })),
    );
    expect(routes.length).toBeGreaterThanOrEqual(9);
    for (const { path, method } of routes) {
      for (const token of [null, 'wrong-token-0123456789abcdef']) {
        const res = await api(path, { method: method.toUpperCase(), token });
        if (path === '/health') {
          expect(res.status).toBe(200);
          continue;
        }
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
          'PHYS_UNAUTHORIZED',
        );
      }
    }
  });

  it('lists the pipelines of the config', async () => {
    const body = (await (await api('/pipelines')).json()) as { pipelines: unknown[] };
    expect(body.pipelines).toEqual([
      { name: 'quick', kind: 'sequential', description: expect.any(String), size: 2 },
      { name: 'fail', kind: 'sequential', description: expect.any(String), size: 1 },
    ]);
  });

  it('creates a run (201, QUEUED, Location), runs it, and answers 200 for the same run id', async () => {
    const res = await submit({ pipeline: 'quick', runId: 'q-1', params: { increment: 2 } });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/api/v1/runs/q-1');
    expect(await res.json()).toMatchObject({ jobId: 'q-1', status: 'QUEUED', pipeline: 'quick' });
    const done = await waitTerminal('q-1');
    expect(done).toMatchObject({ status: 'COMPLETED', outputs: { value: 5 } });
    const again = await submit({ pipeline: 'quick', runId: 'q-1', params: { increment: 2 } });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ jobId: 'q-1', status: 'COMPLETED' });
  });

  it('takes the run id from Idempotency-Key, and refuses a different one in the body', async () => {
    const res = await submit({ pipeline: 'quick' }, { 'idempotency-key': 'key-1' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { jobId: string }).jobId).toBe('key-1');
    const clash = await submit(
      { pipeline: 'quick', runId: 'key-2' },
      { 'idempotency-key': 'key-1' },
    );
    expect(clash.status).toBe(400);
    expect(await clash.json()).toMatchObject({
      error: { code: 'PHYS_REQUEST_INVALID', issues: [{ path: 'runId' }] },
    });
  });

  it('answers 409 for a known run id with other params, 404 for an unknown pipeline', async () => {
    await submit({ pipeline: 'quick', runId: 'c-1', params: { increment: 1 } });
    const conflict = await submit({ pipeline: 'quick', runId: 'c-1', params: { increment: 3 } });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: 'PHYS_RUN_CONFLICT' } });
    const missing = await submit({ pipeline: 'nope' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: { code: 'PHYS_PIPELINE_NOT_FOUND', message: expect.stringMatching(/quick, fail/) },
    });
    const typo = await submit({ pipeline: 'quik' });
    expect(typo.status).toBe(404);
    expect(await typo.json()).toMatchObject({
      error: {
        code: 'PHYS_PIPELINE_NOT_FOUND',
        message: expect.stringMatching(
          /^This server has no pipeline 'quik'\. Did you mean 'quick'\? /,
        ),
        details: { suggestions: ['quick'] },
      },
    });
  });

  it('answers 400 with the path of every issue of a malformed body', async () => {
    const res = await submit({
      pipeline: 7,
      params: [1],
      priority: 1.5,
      runId: 'has space',
      retryPolicy: { maxAttempts: 0 },
      colour: 'red',
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as {
      error: { code: string; issues: { path: string }[]; message: string };
    };
    expect(error.code).toBe('PHYS_REQUEST_INVALID');
    expect(error.issues.map((i) => i.path).sort()).toEqual([
      '',
      'params',
      'pipeline',
      'priority',
      'retryPolicy.maxAttempts',
      'runId',
    ]);
    expect(error.message).toMatch(/unknown key 'colour'/);
    const notJson = await api('/runs', { method: 'POST', body: '{"pipeline":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: { code: 'PHYS_REQUEST_INVALID' } });
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await submit({ pipeline: 'quick', params: { blob: 'x'.repeat(8000) } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'PHYS_REQUEST_TOO_LARGE' } });
  });

  it('records a failing run as FAILED with its error code', async () => {
    await submit({ pipeline: 'fail', runId: 'f-1' });
    const done = await waitTerminal('f-1');
    expect(done).toMatchObject({ status: 'FAILED', error: { code: 'PHYS_CONFORMANCE_FAILED' } });
    const cancel = await api('/runs/f-1/cancel', { method: 'POST' });
    expect(await cancel.json()).toMatchObject({ cancelled: false, run: { status: 'FAILED' } });
  });

  it('streams events in seq order and resumes after Last-Event-ID', async () => {
    await submit({ pipeline: 'quick', runId: 'e-1' });
    const all = await readEvents('/runs/e-1/events');
    expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
    const statuses = all.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses).toEqual(['QUEUED', 'RUNNING', 'COMPLETED']);
    const resumed = await readEvents('/runs/e-1/events', { 'last-event-id': '2' });
    expect(resumed.map((e) => e.id)).toEqual(all.slice(2).map((e) => e.id));
    const after = await readEvents('/runs/e-1/events?after=1');
    expect(after[0]?.id).toBe(2);
  });

  it('lists runs newest first with filters and a cursor', async () => {
    const first = (await (await api('/runs?limit=2')).json()) as {
      runs: { jobId: string; submittedAt: string }[];
      nextCursor?: string;
    };
    expect(first.runs).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const next = (await (await api(`/runs?limit=2&cursor=${first.nextCursor}`)).json()) as {
      runs: { jobId: string }[];
    };
    expect(next.runs.map((r) => r.jobId)).not.toContain(first.runs[0]?.jobId);
    const failed = (await (await api('/runs?status=failed,cancelled')).json()) as {
      runs: { jobId: string }[];
    };
    expect(failed.runs.map((r) => r.jobId)).toEqual(['f-1']);
    const bad = await api('/runs?status=DONE&limit=900');
    expect(bad.status).toBe(400);
    const { error } = (await bad.json()) as { error: { issues: { path: string }[] } };
    expect(error.issues.map((i) => i.path).sort()).toEqual(['limit', 'status.0']);
  });

  it('answers 404 for an unknown run on every run route', async () => {
    for (const [method, path] of [
      ['GET', '/runs/ghost'],
      ['POST', '/runs/ghost/cancel'],
      ['GET', '/runs/ghost/events'],
      ['GET', '/runs/ghost/logs'],
    ] as const) {
      const res = await api(path, { method });
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'PHYS_RUN_NOT_FOUND' } });
    }
  });

  it('is ready, with its queue', async () => {
    const res = await api('/ready');
    expect(await res.json()).toEqual({
      status: 'ready',
      queued: expect.any(Number),
      running: expect.any(Number),
      maxConcurrentRuns: 2,
    });
  });
});

describe('startServer', () => {
  it('refuses a non-loopback host without tokens', async () => {
    await expect(
      startServer(
        runtime,
        { host: '0.0.0.0', port: 0, store: join(dir, 'open.sqlite') },
        { env: {} },
      ),
    ).rejects.toMatchObject({ code: 'PHYS_SERVER_INSECURE' });
  });

  it('answers CORS preflights only for the configured origin, and still needs a token', async () => {
    const other = await startServer(
      runtime,
      {
        port: 0,
        tokens: [TOKEN],
        store: join(dir, 'cors.sqlite'),
        cors: { origin: 'https://dash.example.org' },
      },
      { env: {} },
    );
    try {
      const preflight = await fetch(`${other.url}/api/v1/runs`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://dash.example.org',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('https://dash.example.org');
      const noToken = await fetch(`${other.url}/api/v1/runs`, {
        headers: { origin: 'https://dash.example.org' },
      });
      expect(noToken.status).toBe(401);
      const foreign = await fetch(`${other.url}/api/v1/pipelines`, {
        headers: { origin: 'https://evil.example.org', authorization: `Bearer ${TOKEN}` },
      });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await other.close();
    }
    // CORS is off by default: no header for any origin.
    const res = await api('/pipelines', { headers: { origin: 'https://dash.example.org' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads tokens from PHYS_SERVER_TOKENS', async () => {
    const other = await startServer(
      runtime,
      { port: 0, store: join(dir, 'env.sqlite') },
      { env: { PHYS_SERVER_TOKENS: 'first-token-0123456789, second-token-0123456789' } },
    );
    try {
      const ok = await fetch(`${other.url}/api/v1/pipelines`, {
        headers: { authorization: 'Bearer second-token-0123456789' },
      });
      expect(ok.status).toBe(200);
      const no = await fetch(`${other.url}/api/v1/pipelines`);
      expect(no.status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

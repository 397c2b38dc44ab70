// The dashboard's server side over HTTP: its pages without a token, the login that turns a token
// into a session cookie, the cookie on the API (reads, and writes only from the dashboard's own
// origin), the logout, the Secure cookie under TLS, and the routes the pages need (a pipeline's
// graph, the change stream of every run). The pages themselves are tested in Chromium, in
// tests/integration.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
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

const TOKEN = 'dashboard-token-0123456789abcdef';
let dir: string;
let runtime: PhysRuntime;
let server: RunningServer;

const { 'conformance-quick': quick } = orchestratorConformancePipelines();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'phys-dashboard-'));
  runtime = await createTestRuntime({
    configDir: dir,
    stages: orchestratorConformanceStages,
    pipelines: { quick: quick as never },
  });
  server = await startServer(
    runtime,
    { port: 0, tokens: [TOKEN], store: join(dir, 'runs.sqlite'), schedules: false },
    { env: {} },
  );
});

afterAll(async () => {
  await server?.close();
  await runtime?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const at = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
const json = { 'content-type': 'application/json' };

/** Logs in as the dashboard's login page does and returns the `name=value` of the cookie. */
async function login(): Promise<string> {
  const res = await at('/login', {
    method: 'POST',
    headers: { ...json, origin: server.url },
    body: JSON.stringify({ token: TOKEN }),
  });
  expect(res.status).toBe(204);
  return (res.headers.get('set-cookie') ?? '').split(';', 1)[0] ?? '';
}

describe('the dashboard of startServer', () => {
  it('serves its pages without a token, with no data in them and a strict CSP', async () => {
    const res = await at('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await res.text();
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await at(`/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    // Without a token the session says so, and the API still answers 401.
    expect(await (await at('/session')).json()).toEqual({ authenticated: false, required: true });
    expect((await at('/api/v1/runs')).status).toBe(401);
  });

  it('turns a token into an HttpOnly, SameSite=Strict session cookie that the API accepts', async () => {
    const wrong = await at('/login', {
      method: 'POST',
      headers: { ...json, origin: server.url },
      body: JSON.stringify({ token: `${TOKEN}x` }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();

    const res = await at('/login', {
      method: 'POST',
      headers: { ...json, origin: server.url },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(res.status).toBe(204);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^phys_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/i);
    expect(setCookie).toMatch(/; SameSite=Strict/i);
    expect(setCookie).toMatch(/; Path=\//i);
    expect(setCookie).not.toMatch(/Secure/i);
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';', 1)[0] ?? '';

    expect(await (await at('/session', { headers: { cookie } })).json()).toEqual({
      authenticated: true,
      required: true,
    });
    const runs = await at('/api/v1/runs', { headers: { cookie } });
    expect(runs.status).toBe(200);
    // A made-up session id is nothing.
    expect(
      (await at('/api/v1/runs', { headers: { cookie: `phys_session=${'a'.repeat(43)}` } })).status,
    ).toBe(401);
  });

  it('refuses a write with the cookie from another site (PHYS_CSRF) and runs nothing', async () => {
    const cookie = await login();
    const body = JSON.stringify({ pipeline: 'quick', runId: 'csrf-1' });
    for (const headers of [
      { origin: 'https://evil.example' },
      { 'sec-fetch-site': 'cross-site', origin: server.url },
      { 'sec-fetch-site': 'same-site' },
      {},
    ]) {
      const res = await at('/api/v1/runs', {
        method: 'POST',
        headers: { ...json, cookie, ...headers },
        body,
      });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PHYS_CSRF');
    }
    const none = await at('/api/v1/runs/csrf-1', { headers: { cookie } });
    expect(none.status).toBe(404);
    // Logging in from another site is refused as well (no login CSRF).
    const foreign = await at('/login', {
      method: 'POST',
      headers: { ...json, origin: 'https://evil.example' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(foreign.status).toBe(403);

    // From the dashboard's own origin the same write goes through.
    const ok = await at('/api/v1/runs', {
      method: 'POST',
      headers: { ...json, cookie, origin: server.url, 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(ok.status).toBe(201);
    // The bearer header works as before, whatever the Origin.
    const bearer = await at('/api/v1/runs/csrf-1/cancel', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, origin: 'https://elsewhere.example' },
    });
    expect(bearer.status).toBe(200);
  });

  it('marks the cookie Secure when a reverse proxy says it terminated TLS', async () => {
    const res = await at('/login', {
      method: 'POST',
      headers: { ...json, origin: server.url, 'x-forwarded-proto': 'https' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/i);
  });

  it('forgets the session at logout', async () => {
    const cookie = await login();
    const out = await at('/logout', { method: 'POST', headers: { cookie, origin: server.url } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/phys_session=;/);
    expect((await at('/api/v1/runs', { headers: { cookie } })).status).toBe(401);
  });

  it("answers a pipeline's graph, and 404 for an unknown pipeline", async () => {
    const cookie = await login();
    const res = await at('/api/v1/pipelines/quick', { headers: { cookie } });
    expect(res.status).toBe(200);
    const graph = (await res.json()) as { kind: string; nodes: { id: string; deps: string[] }[] };
    // A sequential pipeline is drawn as a chain of its stages.
    expect(graph.kind).toBe('sequential');
    expect(graph.nodes.length).toBeGreaterThan(0);
    expect(graph.nodes.map((n) => n.deps)).toEqual(
      graph.nodes.map((_, i) => (i === 0 ? [] : [graph.nodes[i - 1]?.id])),
    );
    const missing = await at('/api/v1/pipelines/nope', { headers: { cookie } });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe(
      'PHYS_PIPELINE_NOT_FOUND',
    );
    // Both routes are in the OpenAPI document.
    const doc = (await (await at('/api/v1/openapi.json', { headers: { cookie } })).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/pipelines/{name}', '/events']),
    );
  });

  it('streams the changes of every run, ending with its terminal status', async () => {
    const cookie = await login();
    const controller = new AbortController();
    const stream = await at('/api/v1/events', { headers: { cookie }, signal: controller.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = stream.body?.pipeThrough(new TextDecoderStream()).getReader();
    const submitted = await at('/api/v1/runs', {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ pipeline: 'quick', runId: 'changes-1' }),
    });
    expect(submitted.status).toBe(201);
    let text = '';
    const seen: { jobId: string; status: string; nodeCount: number }[] = [];
    while (!seen.some((r) => r.jobId === 'changes-1' && r.status === 'COMPLETED')) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) break;
      text += chunk.value;
      const frames = text.split('\n\n');
      text = frames.pop() ?? '';
      for (const frame of frames) {
        const data = /^event: run\ndata: (.*)$/m.exec(frame)?.[1];
        if (data !== undefined) seen.push(JSON.parse(data));
      }
    }
    controller.abort();
    const mine = seen.filter((r) => r.jobId === 'changes-1');
    expect(mine.at(-1)).toMatchObject({ status: 'COMPLETED', pipeline: 'quick' });
    expect(mine.at(-1)).not.toHaveProperty('nodes');
    expect(mine.at(-1)?.nodeCount).toBeGreaterThan(0);
  });
});

describe('the dashboard under TLS and without tokens', () => {
  it('marks the session cookie Secure under TLS', async () => {
    const tls = join(dir, 'tls');
    execFileSync('mkdir', ['-p', tls]);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(tls, 'key.pem'),
        '-out',
        join(tls, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const secure = await startServer(
      runtime,
      {
        port: 0,
        tokens: [TOKEN],
        store: join(dir, 'tls.sqlite'),
        schedules: false,
        tls: { cert: join(tls, 'cert.pem'), key: join(tls, 'key.pem') },
      },
      { env: {} },
    );
    try {
      const ca = await readFile(join(tls, 'cert.pem'));
      const url = new URL('/login', secure.url);
      const setCookie = await new Promise<string>((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', ca, headers: { ...json, origin: secure.url } },
          (res) => {
            res.resume();
            resolve(String(res.headers['set-cookie'] ?? ''));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ token: TOKEN }));
      });
      expect(setCookie).toMatch(/; Secure/i);
      expect(setCookie).toMatch(/; HttpOnly/i);
    } finally {
      await secure.close();
    }
  });

  it('is open without tokens on loopback, as the API is', async () => {
    const open = await startServer(
      runtime,
      { port: 0, store: join(dir, 'open.sqlite'), schedules: false },
      { env: {} },
    );
    try {
      const session = await (await fetch(`${open.url}/session`)).json();
      expect(session).toEqual({ authenticated: true, required: false });
      expect((await fetch(`${open.url}/api/v1/runs`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

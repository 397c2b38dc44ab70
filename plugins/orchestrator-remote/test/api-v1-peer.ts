// A small HTTP peer that speaks the phys API v1 the way `phys serve` does (routes, bodies, error
// bodies, Server-Sent Events with ids), with switches for the failures a client must survive:
// refused connections, answers lost after the work was done, 503s, streams that drop, no stream
// at all, HTML from a wrong service. Runs move only when a test says so (`advance`). The real
// server is tested against this client in tests/integration.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionStatus, RunEvent, RunRecord } from '@phys/core';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
/** A {@link RunEvent} before it is numbered. */
type NewEvent = RunEvent extends infer E
  ? E extends RunEvent
    ? Omit<E, 'seq' | 'at'>
    : never
  : never;

export interface PeerRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
}

export class ApiV1Peer {
  readonly runs = new Map<string, Mutable<RunRecord>>();
  readonly events = new Map<string, RunEvent[]>();
  readonly requests: PeerRequest[] = [];
  /** Accepted bearer tokens (none: no auth). */
  tokens: readonly string[] = [];
  /** Answers the next this many requests with 503. */
  unavailable = 0;
  /** Does the work of the next this many POST /runs, then closes the socket without answering. */
  loseAnswers = 0;
  /** Ends each event stream after this many events (undefined: streams stay open). */
  dropStreamAfter: number | undefined;
  /** Stops sending on each event stream after this many events, leaving it open and silent. */
  stallStreamAfter: number | undefined;
  /** Answers the events route with a 404 HTML page, as a proxy that knows no SSE route would. */
  noStream = false;
  /** Answers every route with an HTML page. */
  html = false;
  readonly #streams = new Map<string, Set<(event: RunEvent) => void>>();
  #server: Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Listens on `port` (default: a free one; the same one again after {@link ApiV1Peer.stop}). */
  async start(port = this.#port): Promise<this> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests of `method` to a path matching `path`. */
  seen(method: string, path: RegExp): PeerRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /** Moves run `jobId` to `status` (with a status event), as the server's orchestrator would. */
  advance(jobId: string, status: ExecutionStatus, patch: Partial<RunRecord> = {}): void {
    const run = this.runs.get(jobId);
    if (run === undefined) throw new Error(`no run ${jobId}`);
    const now = new Date().toISOString();
    if (status === 'RUNNING') {
      run.attempt += 1;
      run.startedAt ??= now;
    }
    Object.assign(run, patch, { status });
    if (status !== 'QUEUED' && status !== 'RUNNING') {
      run.finishedAt = now;
      run.durationSeconds ??= 0.5;
    }
    this.#emit(jobId, {
      type: 'status',
      status,
      attempt: run.attempt,
      ...(run.error === undefined ? {} : { error: run.error }),
    });
  }

  /** Adds a node or log event to run `jobId`. */
  note(jobId: string, event: Extract<NewEvent, { type: 'node' | 'log' }>): void {
    this.#emit(jobId, event);
  }

  #emit(jobId: string, event: NewEvent): void {
    const list = this.events.get(jobId) ?? [];
    const full = { ...event, seq: list.length + 1, at: new Date().toISOString() } as RunEvent;
    list.push(full);
    this.events.set(jobId, list);
    for (const listener of this.#streams.get(jobId) ?? []) listener(full);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://peer');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const path = url.pathname.replace(/^\/api\/v1/, '');
    this.requests.push({
      method: req.method ?? 'GET',
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
    });
    if (this.html) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><head><title>Welcome to nginx!</title></head><body>hi</body></html>');
      return;
    }
    if (this.unavailable > 0) {
      this.unavailable -= 1;
      this.#error(res, 503, 'PHYS_SERVER_STARTING', 'The server is starting.');
      return;
    }
    if (!url.pathname.startsWith('/api/v1/')) {
      this.#error(res, 404, 'PHYS_NOT_FOUND', `No route ${url.pathname}.`);
      return;
    }
    if (path === '/health') {
      this.#json(res, 200, { status: 'ok', version: '0.0.0-peer' });
      return;
    }
    if (this.tokens.length > 0) {
      const auth = req.headers.authorization ?? '';
      if (!this.tokens.some((t) => auth === `Bearer ${t}`)) {
        res.setHeader('www-authenticate', 'Bearer');
        this.#error(res, 401, 'PHYS_UNAUTHORIZED', 'A valid bearer token is required.');
        return;
      }
    }
    const runMatch = /^\/runs\/([^/]+)(?:\/(cancel|events|logs))?$/.exec(path);
    if (path === '/runs' && req.method === 'POST') {
      this.#submit(req, res, body);
      return;
    }
    if (path === '/runs' && req.method === 'GET') {
      this.#list(res, url.searchParams);
      return;
    }
    if (path === '/pipelines') {
      this.#json(res, 200, {
        pipelines: [{ name: 'quick', kind: 'dag', description: 'a quick one', size: 2 }],
      });
      return;
    }
    if (runMatch !== null) {
      const jobId = decodeURIComponent(runMatch[1] as string);
      const run = this.runs.get(jobId);
      if (run === undefined) {
        this.#error(res, 404, 'PHYS_RUN_NOT_FOUND', `No run '${jobId}' on this server.`);
        return;
      }
      const action = runMatch[2];
      if (action === undefined) this.#json(res, 200, run);
      else if (action === 'cancel') this.#cancel(res, run);
      else if (action === 'logs') this.#logs(res, jobId, url.searchParams);
      else this.#stream(req, res, jobId, url.searchParams);
      return;
    }
    this.#error(res, 404, 'PHYS_NOT_FOUND', `No route ${req.method} ${url.pathname}.`);
  }

  #submit(req: IncomingMessage, res: ServerResponse, body: unknown): void {
    const given = body as { pipeline?: unknown; runId?: unknown; params?: unknown } | undefined;
    const key = req.headers['idempotency-key'];
    if (typeof given?.pipeline !== 'string') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            name: 'PhysError',
            code: 'PHYS_REQUEST_INVALID',
            message: 'Invalid request body: pipeline is required.',
            retryable: false,
            issues: [{ path: 'pipeline', message: 'required' }],
          },
        }),
      );
      return;
    }
    if (given.pipeline === 'missing') {
      this.#error(res, 404, 'PHYS_PIPELINE_NOT_FOUND', "Unknown pipeline 'missing'.");
      return;
    }
    const runId = typeof given.runId === 'string' ? given.runId : String(key);
    const params = (given.params ?? {}) as Record<string, unknown>;
    const existing = this.runs.get(runId);
    if (existing !== undefined) {
      if (
        existing.pipeline !== given.pipeline ||
        JSON.stringify(existing.params) !== JSON.stringify(params)
      ) {
        this.#error(res, 409, 'PHYS_RUN_CONFLICT', `Run '${runId}' exists with other inputs.`);
        return;
      }
      this.#json(res, 200, existing);
      return;
    }
    const record: Mutable<RunRecord> = {
      jobId: runId,
      pipeline: given.pipeline,
      status: 'QUEUED',
      params,
      priority: typeof (body as { priority?: unknown }).priority === 'number' ? 1 : 0,
      trigger: { kind: 'api' },
      attempt: 0,
      maxAttempts: 1,
      submittedAt: new Date().toISOString(),
    };
    this.runs.set(runId, record);
    this.#emit(runId, { type: 'status', status: 'QUEUED', attempt: 0 });
    if (this.loseAnswers > 0) {
      this.loseAnswers -= 1;
      req.socket.destroy();
      return;
    }
    this.#json(res, 201, record);
  }

  #list(res: ServerResponse, query: URLSearchParams): void {
    const statuses = query.get('status')?.split(',');
    const pipeline = query.get('pipeline');
    const limit = Number(query.get('limit') ?? 50);
    const offset = Number(query.get('cursor') ?? 0);
    const all = [...this.runs.values()]
      .reverse()
      .filter(
        (r) =>
          (pipeline === null || r.pipeline === pipeline) &&
          (statuses === undefined || statuses.includes(r.status)),
      );
    const runs = all.slice(offset, offset + limit);
    const next = offset + limit < all.length ? String(offset + limit) : undefined;
    this.#json(res, 200, next === undefined ? { runs } : { runs, nextCursor: next });
  }

  #cancel(res: ServerResponse, run: Mutable<RunRecord>): void {
    if (run.status === 'QUEUED' || run.status === 'RUNNING') this.advance(run.jobId, 'CANCELLED');
    this.#json(res, 200, { cancelled: run.status === 'CANCELLED', run });
  }

  #logs(res: ServerResponse, jobId: string, query: URLSearchParams): void {
    const tail = Number(query.get('tail') ?? 200);
    const lines = (this.events.get(jobId) ?? [])
      .filter((e): e is Extract<RunEvent, { type: 'log' }> => e.type === 'log')
      .slice(-tail)
      .map(({ type: _type, ...line }) => line);
    this.#json(res, 200, { lines });
  }

  #stream(req: IncomingMessage, res: ServerResponse, jobId: string, query: URLSearchParams): void {
    if (this.noStream) {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html><head><title>404 Not Found</title></head></html>');
      return;
    }
    const header = req.headers['last-event-id'];
    const after = Number(typeof header === 'string' ? header : (query.get('after') ?? 0));
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': hello\n\n');
    let sent = 0;
    const listeners = this.#streams.get(jobId) ?? new Set();
    this.#streams.set(jobId, listeners);
    const send = (event: RunEvent): void => {
      if (event.seq <= after) return;
      res.write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      sent += 1;
      if (
        event.type === 'status' &&
        ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(event.status)
      ) {
        finish();
        res.end();
      } else if (this.stallStreamAfter !== undefined && sent >= this.stallStreamAfter) {
        // Silent from now on, as a stream behind a proxy that stopped forwarding.
        finish();
      } else if (this.dropStreamAfter !== undefined && sent >= this.dropStreamAfter) {
        finish();
        // Abruptly, as a dropped connection: no end of the chunked body.
        res.socket?.destroySoon();
      }
    };
    const finish = (): void => {
      listeners.delete(send);
    };
    listeners.add(send);
    res.on('close', finish);
    for (const event of [...(this.events.get(jobId) ?? [])]) {
      if (!listeners.has(send)) return;
      send(event);
    }
    const run = this.runs.get(jobId);
    if (
      run !== undefined &&
      ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT'].includes(run.status) &&
      listeners.has(send)
    ) {
      finish();
      res.end();
    }
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  }

  #error(res: ServerResponse, status: number, code: string, message: string): void {
    this.#json(res, status, {
      error: { name: 'PhysError', code, message, retryable: status >= 500 },
    });
  }
}

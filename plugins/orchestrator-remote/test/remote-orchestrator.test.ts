import {
  CancelledError,
  type NamedPipeline,
  OrchestratorToken,
  PhysError,
  type RunEvent,
  TimeoutError,
} from '@phys/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api-client.js';
import { followEvents } from '../src/event-stream.js';
import orchestratorRemote, { RemoteOrchestrator } from '../src/index.js';
import { ApiV1Peer } from './api-v1-peer.js';

// Fast retries: the behaviour under test is what is retried, not how long the pauses are.
const requestRetry = { maxAttempts: 4, initialDelaySeconds: 0.02, maxDelaySeconds: 0.05 };

let peer: ApiV1Peer;
beforeEach(async () => {
  peer = await new ApiV1Peer().start();
});
afterEach(async () => {
  await peer.stop();
});

function client(options: Record<string, unknown> = {}): RemoteOrchestrator {
  return new RemoteOrchestrator({ url: peer.url, requestRetry, ...options });
}

async function caught(promise: Promise<unknown>): Promise<PhysError> {
  try {
    await promise;
  } catch (error) {
    if (PhysError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Resolves once `predicate` holds (checked as the event loop turns). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((r) => setTimeout(r, 5));
}

describe('submitting', () => {
  it('returns the QUEUED run at once, with the run id as body field and idempotency key', async () => {
    const submission = await client().runPipeline('quick', {
      runId: 'scan-001',
      params: { 'mc.temperature': 2.3 },
      priority: 5,
    });
    expect(submission.jobId).toBe('scan-001');
    expect(submission.status).toBe('QUEUED');
    expect(submission.pipeline).toBe('quick');
    expect(submission.outputs).toEqual({});
    const [post] = peer.seen('POST', /^\/runs$/);
    expect(post?.headers['idempotency-key']).toBe('scan-001');
    expect(post?.body).toEqual({
      pipeline: 'quick',
      runId: 'scan-001',
      params: { 'mc.temperature': 2.3 },
      priority: 5,
    });
  });

  it('generates a run id when none is given, and sends it', async () => {
    const submission = await client().runPipeline('quick');
    expect(submission.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(peer.seen('POST', /^\/runs$/)[0]?.body).toMatchObject({ runId: submission.jobId });
  });

  it('never runs a submission twice when the answer was lost and the request retried', async () => {
    peer.loseAnswers = 1;
    const submission = await client().runPipeline('quick');
    // The server did the work, the answer never came, the retry got the same run back.
    expect(peer.seen('POST', /^\/runs$/)).toHaveLength(2);
    expect(peer.runs.size).toBe(1);
    expect(peer.runs.has(submission.jobId)).toBe(true);
    expect(submission.status).toBe('QUEUED');
  });

  it('retries 503 answers of a starting server', async () => {
    peer.unavailable = 2;
    const submission = await client().runPipeline('quick');
    expect(submission.status).toBe('QUEUED');
    expect(peer.seen('POST', /^\/runs$/)).toHaveLength(3);
    expect(peer.runs.size).toBe(1);
  });

  it('retries a refused connection until the server is back', async () => {
    await peer.stop();
    const orchestrator = client({
      requestRetry: { maxAttempts: 30, initialDelaySeconds: 0.05, backoffMultiplier: 1 },
    });
    const pending = orchestrator.runPipeline('quick', { runId: 'after-restart' });
    await new Promise((r) => setTimeout(r, 150));
    await peer.start();
    const submission = await pending;
    expect(submission.jobId).toBe('after-restart');
    expect(peer.runs.size).toBe(1);
  });

  it('gives up on an unreachable server with PHYS_SERVER_UNAVAILABLE naming it', async () => {
    const url = peer.url;
    await peer.stop();
    const error = await caught(new RemoteOrchestrator({ url, requestRetry }).runPipeline('quick'));
    expect(error.code).toBe('PHYS_SERVER_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(url);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('4 attempts');
  });

  it('refuses a pipeline object: the server runs the pipelines of its own config', async () => {
    const pipeline = { name: 'mine', kind: 'sequential', stages: [] } as unknown as NamedPipeline;
    const error = await caught(client().runPipeline(pipeline));
    expect(error.code).toBe('PHYS_USAGE');
    expect(error.message).toContain("'mine'");
    expect(peer.requests).toHaveLength(0);
  });

  it('refuses a run id the API does not accept, before sending anything', async () => {
    const error = await caught(client().runPipeline('quick', { runId: 'no spaces/please' }));
    expect(error.code).toBe('PHYS_USAGE');
    expect(peer.requests).toHaveLength(0);
  });

  it("turns the server's error bodies into PhysErrors with their code, message and issues", async () => {
    const missing = await caught(client().runPipeline('missing'));
    expect(missing.code).toBe('PHYS_PIPELINE_NOT_FOUND');
    expect(missing.message).toBe("Unknown pipeline 'missing'.");
    expect(missing.details).toMatchObject({ status: 404 });

    await client().runPipeline('quick', { runId: 'one', params: { a: 1 } });
    const conflict = await caught(
      client().runPipeline('quick', { runId: 'one', params: { a: 2 } }),
    );
    expect(conflict.code).toBe('PHYS_RUN_CONFLICT');

    const notFound = await caught(client().getRun('nope'));
    expect(notFound.code).toBe('PHYS_RUN_NOT_FOUND');
  });

  it('says what answered when it is not the phys API (an HTML page)', async () => {
    peer.html = true;
    const error = await caught(client().runPipeline('quick'));
    expect(error.code).toBe('PHYS_SERVER_RESPONSE');
    expect(error.message).toContain(peer.url);
    expect(error.message).toContain('text/html');
    expect(error.message).toContain('Welcome to nginx!');
  });
});

describe('tokens', () => {
  it('sends the token of PHYS_SERVER_TOKEN as a bearer token', async () => {
    peer.tokens = ['s3cret'];
    const before = process.env.PHYS_SERVER_TOKEN;
    process.env.PHYS_SERVER_TOKEN = 's3cret';
    try {
      expect((await client().runPipeline('quick')).status).toBe('QUEUED');
    } finally {
      if (before === undefined) delete process.env.PHYS_SERVER_TOKEN;
      else process.env.PHYS_SERVER_TOKEN = before;
    }
    expect(peer.requests[0]?.headers.authorization).toBe('Bearer s3cret');
  });

  it('answers a 401 with PHYS_UNAUTHORIZED and what to set', async () => {
    peer.tokens = ['s3cret'];
    const error = await caught(client({ token: 'wrong' }).listRuns());
    expect(error.code).toBe('PHYS_UNAUTHORIZED');
    expect(error.message).toContain('PHYS_SERVER_TOKEN');
    expect(error.message).not.toContain('wrong');
  });
});

describe('waiting', () => {
  it('follows the event stream to the terminal snapshot, outputs included', async () => {
    const orchestrator = client();
    const submission = await orchestrator.runPipeline('quick', { runId: 'w1' });
    const done = submission.waitForCompletion({ timeout: 30 });
    await until(() => peer.seen('GET', /^\/runs\/w1\/events$/).length > 0);
    peer.advance('w1', 'RUNNING');
    peer.note('w1', { type: 'node', node: 'a', status: 'COMPLETED', attempt: 1 });
    peer.advance('w1', 'COMPLETED', { outputs: { tc: 2.27 }, durationSeconds: 1.5 });
    const result = await done;
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs).toEqual({ tc: 2.27 });
    expect(result.durationSeconds).toBe(1.5);
    expect(result.record.attempt).toBe(1);
    // Followed, not polled.
    expect(peer.seen('GET', /^\/runs\/w1$/).length).toBeLessThanOrEqual(2);
  });

  it('returns at once for a run that already ended, with its error', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'w2' });
    peer.advance('w2', 'RUNNING');
    peer.advance('w2', 'FAILED', {
      error: { name: 'PhysError', code: 'PHYS_STAGE_FAILED', message: 'boom', retryable: false },
    });
    const result = await (await orchestrator.getRun('w2')).waitForCompletion();
    expect(result.status).toBe('FAILED');
    expect(result.error?.code).toBe('PHYS_STAGE_FAILED');
  });

  it('falls back to polling at pollInterval when the server does not stream', async () => {
    peer.noStream = true;
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'w3' });
    const done = orchestrator.waitForCompletion('w3', { timeout: 30, pollInterval: 0.05 });
    await until(() => peer.seen('GET', /^\/runs\/w3$/).length >= 3);
    peer.advance('w3', 'RUNNING');
    peer.advance('w3', 'COMPLETED');
    expect((await done).status).toBe('COMPLETED');
    expect(peer.seen('GET', /^\/runs\/w3\/events$/)).toHaveLength(1);
  });

  it('fails fast when the server cannot be reached at all', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'w6' });
    await peer.stop();
    const error = await caught(orchestrator.waitForCompletion('w6', { timeout: 3600 }));
    expect(error.code).toBe('PHYS_SERVER_UNAVAILABLE');
  });

  it('waits through a restart of the server once it was reached', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'w7' });
    const done = orchestrator.waitForCompletion('w7', { timeout: 30, pollInterval: 0.05 });
    await until(() => peer.seen('GET', /^\/runs\/w7\/events$/).length > 0);
    await peer.stop();
    // Down for longer than the requests' own retries last.
    await new Promise((r) => setTimeout(r, 400));
    peer.advance('w7', 'RUNNING');
    peer.advance('w7', 'COMPLETED', { outputs: { x: 1 } });
    await peer.start();
    const result = await done;
    expect(result.status).toBe('COMPLETED');
    expect(result.outputs).toEqual({ x: 1 });
  });

  it('throws TimeoutError PHYS_WAIT_TIMEOUT at the deadline and leaves the run going', async () => {
    const orchestrator = client();
    const submission = await orchestrator.runPipeline('quick', { runId: 'w4' });
    peer.advance('w4', 'RUNNING');
    const error = await caught(submission.waitForCompletion({ timeout: 0.2 }));
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error.code).toBe('PHYS_WAIT_TIMEOUT');
    expect(error.message).toContain('RUNNING');
    expect(peer.runs.get('w4')?.status).toBe('RUNNING');
    expect(await orchestrator.getRunStatus('w4')).toBe('RUNNING');
  });

  it('stops waiting on its signal with PHYS_CANCELLED; the run goes on', async () => {
    const orchestrator = client();
    const submission = await orchestrator.runPipeline('quick', { runId: 'w5' });
    const controller = new AbortController();
    const done = submission.waitForCompletion({ signal: controller.signal });
    await until(() => peer.seen('GET', /^\/runs\/w5\/events$/).length > 0);
    controller.abort();
    const error = await caught(done);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.message).toContain('goes on');
    expect(peer.runs.get('w5')?.status).toBe('QUEUED');
  });
});

describe('events', () => {
  it('resumes a dropped stream with Last-Event-ID: every event once, in order', async () => {
    peer.dropStreamAfter = 2;
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'e1' });
    peer.advance('e1', 'RUNNING');
    for (const node of ['a', 'b', 'c']) {
      peer.note('e1', { type: 'node', node, status: 'COMPLETED', attempt: 1 });
    }
    peer.note('e1', { type: 'log', level: 'info', message: 'done soon' });
    peer.advance('e1', 'COMPLETED');
    const seen: RunEvent[] = [];
    for await (const event of orchestrator.runEvents('e1')) seen.push(event);
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(seen.at(-1)).toMatchObject({ type: 'status', status: 'COMPLETED' });
    const resumes = peer.seen('GET', /^\/runs\/e1\/events$/).map((r) => r.headers['last-event-id']);
    expect(resumes).toEqual([undefined, '2', '4', '6']);
  });

  it('opens a stream again when it stalls (no byte within the idle time)', async () => {
    peer.stallStreamAfter = 2;
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 's1' });
    peer.advance('s1', 'RUNNING');
    peer.note('s1', { type: 'node', node: 'a', status: 'COMPLETED', attempt: 1 });
    peer.note('s1', { type: 'node', node: 'b', status: 'COMPLETED', attempt: 1 });
    peer.advance('s1', 'COMPLETED');
    const api = new ApiClient(new URL(`${peer.url}/api/v1/`), undefined, 5, requestRetry);
    const seen: number[] = [];
    for await (const event of followEvents(api, 's1', {
      retry: requestRetry,
      status: async () => await orchestrator.getRunStatus('s1'),
      idleSeconds: 0.2,
    })) {
      seen.push(event.seq);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const resumes = peer.seen('GET', /^\/runs\/s1\/events$/).map((r) => r.headers['last-event-id']);
    expect(resumes).toEqual([undefined, '2', '4']);
  });

  it('yields live events as they happen and starts after `after`', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'e2' });
    peer.advance('e2', 'RUNNING');
    const seen: RunEvent[] = [];
    const reading = (async () => {
      for await (const event of orchestrator.runEvents('e2', { after: 1 })) seen.push(event);
    })();
    await until(() => seen.length === 1);
    peer.note('e2', { type: 'node', node: 'a', status: 'RUNNING', attempt: 1 });
    peer.advance('e2', 'CANCELLED');
    await reading;
    expect(seen.map((e) => [e.seq, e.type])).toEqual([
      [2, 'status'],
      [3, 'node'],
      [4, 'status'],
    ]);
  });

  it('closes the connection when the reader stops early', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'e3' });
    for await (const event of orchestrator.runEvents('e3')) {
      expect(event.seq).toBe(1);
      break;
    }
    // The peer sees the socket close: its listener is gone, and a new event reaches nobody.
    peer.advance('e3', 'RUNNING');
    expect(peer.seen('GET', /^\/runs\/e3\/events$/)).toHaveLength(1);
  });
});

describe('runs', () => {
  it('lists with filters and cursors', async () => {
    const orchestrator = client();
    for (const id of ['r1', 'r2', 'r3']) await orchestrator.runPipeline('quick', { runId: id });
    peer.advance('r2', 'RUNNING');
    const first = await orchestrator.listRuns({ limit: 2 });
    expect(first.runs.map((r) => r.jobId)).toEqual(['r3', 'r2']);
    expect(first.nextCursor).toBeDefined();
    const second = await orchestrator.listRuns({ limit: 2, cursor: first.nextCursor as string });
    expect(second.runs.map((r) => r.jobId)).toEqual(['r1']);
    expect(second.nextCursor).toBeUndefined();
    const running = await orchestrator.listRuns({
      status: ['RUNNING', 'FAILED'],
      pipeline: 'quick',
    });
    expect(running.runs.map((r) => r.jobId)).toEqual(['r2']);
    expect(peer.requests.at(-1)?.query.get('status')).toBe('RUNNING,FAILED');
  });

  it('cancels: true once CANCELLED, again true, false for a run that ended otherwise', async () => {
    const orchestrator = client();
    const submission = await orchestrator.runPipeline('quick', { runId: 'c1' });
    expect(await submission.cancel()).toBe(true);
    expect(await submission.cancel()).toBe(true);
    expect((await submission.refresh()).status).toBe('CANCELLED');
    await orchestrator.runPipeline('quick', { runId: 'c2' });
    peer.advance('c2', 'RUNNING');
    peer.advance('c2', 'COMPLETED');
    expect(await orchestrator.cancelRun('c2')).toBe(false);
  });

  it('reads the log tail and the pipelines', async () => {
    const orchestrator = client();
    await orchestrator.runPipeline('quick', { runId: 'l1' });
    peer.note('l1', { type: 'log', level: 'warn', message: 'hot', node: 'a' });
    expect(await orchestrator.runLogs('l1', { tail: 10 })).toEqual([
      expect.objectContaining({ seq: 2, level: 'warn', message: 'hot', node: 'a' }),
    ]);
    expect(peer.requests.at(-1)?.query.get('tail')).toBe('10');
    expect(await orchestrator.pipelines()).toEqual([
      { name: 'quick', kind: 'dag', description: 'a quick one', size: 2 },
    ]);
  });
});

describe('options and the plugin', () => {
  it('adds /api/v1 to the URL, once', async () => {
    const withPrefix = new RemoteOrchestrator({ url: `${peer.url}/api/v1/`, requestRetry });
    await withPrefix.runPipeline('quick', { runId: 'p1' });
    expect(withPrefix.url).toBe(peer.url);
    expect(peer.seen('POST', /^\/runs$/)).toHaveLength(1);
  });

  it('takes the URL from PHYS_REMOTE and fails clearly without one', () => {
    const before = process.env.PHYS_REMOTE;
    try {
      delete process.env.PHYS_REMOTE;
      expect(() => new RemoteOrchestrator()).toThrow(/PHYS_REMOTE/);
      process.env.PHYS_REMOTE = peer.url;
      expect(new RemoteOrchestrator().url).toBe(peer.url);
    } finally {
      if (before === undefined) delete process.env.PHYS_REMOTE;
      else process.env.PHYS_REMOTE = before;
    }
  });

  it('reports every bad option with its path', () => {
    let error: unknown;
    try {
      orchestratorRemote({
        url: 'ftp://x',
        requestTimeoutSeconds: -1,
        retryPolicy: { maxAttempts: 0 },
      });
    } catch (e) {
      error = e;
    }
    expect(PhysError.is(error) && error.code).toBe('PHYS_CONFIG_INVALID');
    const paths = ((error as { issues: { path: string }[] }).issues ?? []).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'plugins.orchestrator-remote.url',
        'plugins.orchestrator-remote.requestTimeoutSeconds',
        'plugins.orchestrator-remote.retryPolicy',
      ]),
    );
  });

  it('provides the orchestrator capability', () => {
    const plugin = orchestratorRemote({ url: peer.url });
    expect(plugin.provides).toEqual(['orchestrator']);
    const registered = new Map<unknown, unknown>();
    plugin.register({
      container: {
        register: (token: unknown, provider: { useValue: unknown }) =>
          registered.set(token, provider.useValue),
      },
    } as never);
    expect(registered.get(OrchestratorToken)).toBeInstanceOf(RemoteOrchestrator);
  });

  it('sends its default run retry policy with submissions', async () => {
    const orchestrator = client({ retryPolicy: { maxAttempts: 3, retryableErrors: ['OOM'] } });
    await orchestrator.runPipeline('quick');
    await orchestrator.runPipeline('quick', { retryPolicy: { maxAttempts: 2 } });
    const bodies = peer
      .seen('POST', /^\/runs$/)
      .map((r) => (r.body as { retryPolicy?: unknown }).retryPolicy);
    expect(bodies).toEqual([{ maxAttempts: 3, retryableErrors: ['OOM'] }, { maxAttempts: 2 }]);
  });
});

// The HTTP API v1 on Fastify: routes, bearer-token check, request validation, error bodies and
// the Server-Sent Events stream of a run. `startServer` (start-server.ts) builds it over an
// orchestrator and a store and listens.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import type { Logger, PipelineDeclaration, RetryPolicy, RunEvent } from '@phys/core';
import {
  closestNames,
  didYouMean,
  type LocalOrchestrator,
  type ScheduleRunner,
} from '@phys/runtime';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { TokenSet } from './auth.js';
import { registerDashboard } from './dashboard/register-dashboard.js';
import { errorResponse, HttpError, invalidRequest, zodIssues } from './http-error.js';
import { openApiDocument } from './openapi.js';
import { scheduleRoutes } from './routes/schedules.js';
import {
  eventsQuerySchema,
  listQuerySchema,
  logsQuerySchema,
  runIdSchema,
  submitBodySchema,
} from './schemas.js';
import type { SqliteRunStore } from './sqlite-run-store.js';
import type { SubmissionStore } from './submission-store.js';

/** Where the API lives. */
export const API_PREFIX = '/api/v1';
/** Seconds between two `: keep-alive` comments of an idle event stream. */
const KEEP_ALIVE_SECONDS = 15;

/** What the app serves. */
export interface AppParts {
  readonly orchestrator: LocalOrchestrator;
  /** The durable store itself (log tails and counts). */
  readonly store: SqliteRunStore;
  /** The store the orchestrator writes through (tells the dashboard of changed runs). */
  readonly submissions: SubmissionStore;
  readonly pipelines: Readonly<Record<string, PipelineDeclaration>>;
  /** The server's schedules (the `/schedules` routes). */
  readonly schedules: ScheduleRunner;
  /** Accepted tokens; none means the API is open (allowed on loopback only). */
  readonly tokens: TokenSet;
  readonly bodyLimit: number;
  readonly cors: false | { readonly origin: string | readonly string[] };
  readonly https?: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly logger: Logger;
  readonly version: string;
}

/** The app and the switches its host turns. */
export interface App {
  readonly fastify: FastifyInstance;
  /** `GET /ready` answers 200 only while set. */
  setReady(ready: boolean): void;
  /** Ends every open event stream (before closing: they would hold the server open). */
  endStreams(): void;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(what, zodIssues(result.error));
  return result.data;
}

/** The one value of a header (a repeated header is a bad request). */
function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  if (Array.isArray(value)) {
    throw invalidRequest('request', [{ path: name, message: 'must be given once' }]);
  }
  return value;
}

/** Writes `text` to an event stream, waiting while the socket's buffer is full. */
async function write(raw: ServerResponse, text: string, signal: AbortSignal): Promise<void> {
  if (raw.write(text)) return;
  await once(raw, 'drain', { signal });
}

function frame(event: RunEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Builds the Fastify app of the API (not listening yet). */
export function buildApp(parts: AppParts): App {
  const { orchestrator, store, pipelines, tokens, logger } = parts;
  let ready = false;
  const streams = new Set<AbortController>();
  const fastify = Fastify({
    logger: false,
    bodyLimit: parts.bodyLimit,
    return503OnClosing: true,
    ...(parts.https === undefined
      ? {}
      : { https: { cert: parts.https.cert, key: parts.https.key } }),
  }) as unknown as FastifyInstance;

  // JSON bodies: an empty body is no body (POST /runs/:id/cancel), anything else must parse.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        invalidRequest('request body', [
          { path: '', message: `is not JSON (${(error as Error).message})` },
        ]),
        undefined,
      );
    }
  });

  if (parts.cors !== false) {
    void fastify.register(cors, {
      // A list, so that the header names the request's origin only when it is allowed.
      origin: typeof parts.cors.origin === 'string' ? [parts.cors.origin] : [...parts.cors.origin],
      methods: ['GET', 'POST'],
      allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'Last-Event-ID'],
      exposedHeaders: ['Location'],
    });
  }

  const dashboard = registerDashboard(fastify, {
    ...parts,
    apiPrefix: API_PREFIX,
    secure: parts.https !== undefined,
  });
  fastify.addHook('onRequest', async (request, reply) => {
    if (tokens.size === 0) return;
    const path = request.url.split('?', 1)[0];
    if (path === `${API_PREFIX}/health`) return;
    // The dashboard's pages and login hold no data; everything else is the API's.
    if (path !== API_PREFIX && !path?.startsWith(`${API_PREFIX}/`)) return;
    if (parts.cors !== false && request.method === 'OPTIONS') return;
    if (tokens.accepts(request.headers.authorization)) return;
    if (dashboard.accepts(request)) return;
    const { status, body } = errorResponse(
      new HttpError(
        401,
        'PHYS_UNAUTHORIZED',
        'This server needs a bearer token: send `Authorization: Bearer <token>` with one of the tokens it was started with (PHYS_SERVER_TOKENS or the `tokens` option; clients read PHYS_SERVER_TOKEN).',
      ),
    );
    return reply.code(status).header('www-authenticate', 'Bearer realm="phys"').send(body);
  });

  fastify.setErrorHandler((error, request, reply) => {
    let mapped: unknown = error;
    const fst = error as { code?: string; statusCode?: number; message: string };
    if (typeof fst.code === 'string' && fst.code.startsWith('FST_')) {
      if (fst.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        mapped = new HttpError(
          413,
          'PHYS_REQUEST_TOO_LARGE',
          `The request body is larger than this server accepts (${parts.bodyLimit} bytes). Send less (params are for parameters, not data), or raise the server's bodyLimit.`,
          { details: { bodyLimit: parts.bodyLimit } },
        );
      } else {
        const status = fst.statusCode !== undefined && fst.statusCode < 500 ? fst.statusCode : 400;
        mapped = new HttpError(status, 'PHYS_REQUEST_INVALID', `${fst.message}.`, {
          issues: [{ path: '', message: fst.message }],
        });
      }
    }
    const { status, headers, body } = errorResponse(mapped);
    if (status >= 500) {
      logger.error('request failed', {
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?', 1)[0],
        error: error instanceof Error ? error.message : String(error),
      });
    }
    return reply.code(status).headers(headers).send(body);
  });

  fastify.setNotFoundHandler((request, reply) => {
    const { status, body } = errorResponse(
      new HttpError(
        404,
        'PHYS_NOT_FOUND',
        `No route ${request.method} ${request.url.split('?', 1)[0]}. The API is under ${API_PREFIX}; its routes are listed in ${API_PREFIX}/openapi.json.`,
      ),
    );
    return reply.code(status).send(body);
  });

  const runOr404 = async (id: string) => {
    const record = await store.get(id);
    if (record === undefined) {
      throw new HttpError(
        404,
        'PHYS_RUN_NOT_FOUND',
        `No run has job id '${id}'. List the runs there are with GET ${API_PREFIX}/runs (\`phys runs ls\`).`,
        { details: { jobId: id } },
      );
    }
    return record;
  };

  const routes = async (api: FastifyInstance): Promise<void> => {
    api.get('/health', async () => ({ status: 'ok', version: parts.version }));

    api.get('/ready', async (_request, reply) => {
      if (!ready) {
        const { body } = errorResponse(
          new HttpError(
            503,
            'PHYS_SERVER_UNAVAILABLE',
            'The server is starting or stopping. Try again in a moment.',
            { retryable: true },
          ),
        );
        return reply.code(503).send(body);
      }
      const { queued, running } = orchestrator.load;
      return {
        status: 'ready',
        queued,
        running,
        maxConcurrentRuns: orchestrator.maxConcurrentRuns,
      };
    });

    const document = openApiDocument(parts.version);
    api.get('/openapi.json', async () => document);

    api.get('/pipelines', async () => ({
      pipelines: Object.entries(pipelines).map(([name, declaration]) => ({
        name,
        kind: declaration.kind === 'dag' ? 'dag' : 'sequential',
        ...(declaration.description === undefined ? {} : { description: declaration.description }),
        size: declaration.kind === 'dag' ? declaration.nodes.length : declaration.stages.length,
      })),
    }));

    api.post('/runs', async (request: FastifyRequest, reply: FastifyReply) => {
      const body = parse(submitBodySchema, request.body, 'request body');
      const key = header(request, 'idempotency-key');
      if (key !== undefined) {
        const checked = runIdSchema.safeParse(key);
        if (!checked.success) {
          throw invalidRequest('request', zodIssues(checked.error, 'Idempotency-Key'));
        }
        if (body.runId !== undefined && body.runId !== key) {
          throw invalidRequest('request', [
            {
              path: 'runId',
              message: `differs from the Idempotency-Key header ('${key}'); give one of them, or the same id in both`,
            },
          ]);
        }
      }
      if (!Object.hasOwn(pipelines, body.pipeline)) {
        const known = Object.keys(pipelines);
        const suggestions = closestNames(body.pipeline, known);
        throw new HttpError(
          404,
          'PHYS_PIPELINE_NOT_FOUND',
          `This server has no pipeline '${body.pipeline}'. ${suggestions.length === 0 ? '' : `${didYouMean(suggestions)} `}${known.length === 0 ? 'Its config declares none.' : `It has: ${known.join(', ')}.`} See GET ${API_PREFIX}/pipelines.`,
          { details: { pipeline: body.pipeline, pipelines: known, suggestions } },
        );
      }
      const runId = body.runId ?? key ?? randomUUID();
      const { submission, created } = await orchestrator.submit(body.pipeline, {
        runId,
        ...(body.params === undefined ? {} : { params: body.params }),
        ...(body.priority === undefined ? {} : { priority: body.priority }),
        ...(body.retryPolicy === undefined ? {} : { retryPolicy: body.retryPolicy as RetryPolicy }),
      });
      return reply
        .code(created ? 201 : 200)
        .header('location', `${API_PREFIX}/runs/${encodeURIComponent(runId)}`)
        .send(submission.record);
    });

    api.get('/runs', async (request) => {
      const query = parse(listQuerySchema, request.query, 'query');
      try {
        return await store.list({
          ...(query.pipeline === undefined ? {} : { pipeline: query.pipeline }),
          ...(query.status === undefined ? {} : { status: query.status }),
          ...(query.limit === undefined ? {} : { limit: query.limit }),
          ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        });
      } catch (error) {
        if ((error as { code?: string }).code === 'PHYS_USAGE' && query.cursor !== undefined) {
          throw invalidRequest('query', [
            {
              path: 'cursor',
              message:
                'is not a nextCursor of this server; leave it out to start from the newest run',
            },
          ]);
        }
        throw error;
      }
    });

    api.get('/runs/:id', async (request) => runOr404((request.params as { id: string }).id));

    api.post('/runs/:id/cancel', async (request) => {
      const { id } = request.params as { id: string };
      await runOr404(id);
      const cancelled = await orchestrator.cancelRun(id);
      return { cancelled, run: await runOr404(id) };
    });

    api.get('/runs/:id/logs', async (request) => {
      const { id } = request.params as { id: string };
      const { tail } = parse(logsQuerySchema, request.query, 'query');
      await runOr404(id);
      const lines = await store.logTail(id, tail);
      return {
        lines: lines.map(({ seq, at, level, message, node }) => ({
          seq,
          at,
          level,
          message,
          ...(node === undefined ? {} : { node }),
        })),
      };
    });

    api.get('/runs/:id/events', async (request, reply) => {
      const { id } = request.params as { id: string };
      const query = parse(eventsQuerySchema, request.query, 'query');
      const last = header(request, 'last-event-id');
      let after = query.after ?? 0;
      if (last !== undefined) {
        if (!/^\d{1,15}$/.test(last.trim())) {
          throw invalidRequest('request', [
            {
              path: 'Last-Event-ID',
              message: 'must be the id (a whole number) of an event of this stream',
            },
          ]);
        }
        after = Number(last.trim());
      }
      await runOr404(id);
      const controller = new AbortController();
      streams.add(controller);
      reply.hijack();
      const raw = reply.raw;
      const keepAlive = setInterval(() => {
        raw.write(': keep-alive\n\n');
      }, KEEP_ALIVE_SECONDS * 1000);
      keepAlive.unref();
      raw.on('close', () => controller.abort());
      try {
        raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          // nginx: pass events on at once instead of buffering them.
          'x-accel-buffering': 'no',
        });
        raw.flushHeaders();
        for await (const event of orchestrator.runEvents(id, {
          after,
          signal: controller.signal,
        })) {
          await write(raw, frame(event), controller.signal);
        }
      } catch (error) {
        if (!controller.signal.aborted) {
          logger.warn('event stream ended by an error', {
            jobId: id,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      } finally {
        clearInterval(keepAlive);
        streams.delete(controller);
        raw.end();
      }
    });
  };
  void fastify.register(routes, { prefix: API_PREFIX });
  void fastify.register(async (api) => scheduleRoutes(api, parts.schedules, API_PREFIX), {
    prefix: API_PREFIX,
  });

  return {
    fastify,
    setReady(value) {
      ready = value;
    },
    endStreams() {
      for (const controller of streams) controller.abort();
    },
  };
}
